// Package testtool finds the external programs some tests drive (promtool,
// chromium). A missing program skips the test with a line naming the
// Debian package to install, except under CI=true, where it fails: CI
// installs them (.ci/run), so a missing one there is a broken CI.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Path returns the path of program, or skips (fails under CI=true) when
// it is not installed, naming the Debian package that provides it.
func Path(t testing.TB, program, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	msg := program + " is not installed: apt-get install -y --no-install-recommends " + debianPackage
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
