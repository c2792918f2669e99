// Package failpoint lets a test make tally fail at a named point of its
// code: kill the process right after a batch commits and before it is
// acknowledged, or right before the commit, to prove that a crash at that
// moment loses and doubles nothing.
//
// Failpoints are off unless Enable is given a spec; tally run reads it
// once at start from TALLY_FAILPOINTS, such as
//
//	TALLY_FAILPOINTS='after_commit=kill@3'
//	TALLY_FAILPOINTS='before_commit=sleep(2s);after_commit=kill@5'
//
// A spec is a list of name=action[@n] separated by ';'. Actions: kill
// (SIGKILL the process: nothing runs after it, as in a crash) and
// sleep(duration). With @n the action runs on the n-th time the point is
// reached only, otherwise every time. When no failpoint is enabled, Inject
// costs one atomic load.
package failpoint
