package playbook

import (
	"fmt"
	"strings"
)

// positional rewrites the :name placeholders of sql as $n::type, numbering
// names in order of first use. It skips string literals, quoted
// identifiers, dollar-quoted strings, comments and :: casts, so a colon
// there is left alone. It returns the names in $n order.
func positional(sql string, typeOf func(name string) (string, bool)) (string, []string, error) {
	var out strings.Builder
	var names []string
	index := map[string]int{}
	for i := 0; i < len(sql); {
		if n := skipLiteral(sql, i); n > i {
			out.WriteString(sql[i:n])
			i = n
			continue
		}
		if sql[i] == ':' && i+1 < len(sql) && sql[i+1] == ':' {
			out.WriteString("::")
			i += 2
			continue
		}
		if sql[i] != ':' || i+1 >= len(sql) || !isNameStart(sql[i+1]) {
			out.WriteByte(sql[i])
			i++
			continue
		}
		j := i + 1
		for j < len(sql) && isNameByte(sql[j]) {
			j++
		}
		name := sql[i+1 : j]
		pgType, ok := typeOf(name)
		if !ok {
			return "", nil, fmt.Errorf(":%s is used but not declared in the header", name)
		}
		if _, seen := index[name]; !seen {
			names = append(names, name)
			index[name] = len(names)
		}
		fmt.Fprintf(&out, "$%d::%s", index[name], pgType)
		i = j
	}
	return out.String(), names, nil
}

// skipLiteral returns the end of the literal or comment that starts at i,
// or i when none does.
func skipLiteral(s string, i int) int {
	switch {
	case strings.HasPrefix(s[i:], "--"):
		if n := strings.IndexByte(s[i:], '\n'); n >= 0 {
			return i + n + 1
		}
		return len(s)
	case strings.HasPrefix(s[i:], "/*"):
		return skipBlockComment(s, i)
	case s[i] == '\'':
		// E'...' strings allow backslash escapes.
		escapes := i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i < 2 || !isNameByte(s[i-2]))
		return skipQuoted(s, i, '\'', escapes)
	case s[i] == '"':
		return skipQuoted(s, i, '"', false)
	case s[i] == '$':
		return skipDollar(s, i)
	}
	return i
}

// skipQuoted skips a quoted run where a doubled quote stands for itself.
func skipQuoted(s string, i int, q byte, escapes bool) int {
	for j := i + 1; j < len(s); j++ {
		switch {
		case escapes && s[j] == '\\':
			j++
		case s[j] == q && j+1 < len(s) && s[j+1] == q:
			j++
		case s[j] == q:
			return j + 1
		}
	}
	return len(s)
}

// skipBlockComment skips a /* */ comment; PostgreSQL nests them.
func skipBlockComment(s string, i int) int {
	depth := 0
	for j := i; j < len(s)-1; j++ {
		switch {
		case s[j] == '/' && s[j+1] == '*':
			depth++
			j++
		case s[j] == '*' && s[j+1] == '/':
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

// skipDollar skips a $tag$...$tag$ string; $1 and lone dollars are not one.
func skipDollar(s string, i int) int {
	j := i + 1
	for j < len(s) && isNameByte(s[j]) && !(j == i+1 && s[j] >= '0' && s[j] <= '9') {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return i
	}
	tag := s[i : j+1]
	if end := strings.Index(s[j+1:], tag); end >= 0 {
		return j + 1 + end + len(tag)
	}
	return len(s)
}

func isNameStart(b byte) bool { return b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

func isNameByte(b byte) bool { return isNameStart(b) || (b >= '0' && b <= '9') }
