// Package playbook is tally's crisis playbook: named, parameterised,
// read-only SQL data pulls that support runs when things go wrong.
//
// An entry is a .sql file whose leading comment lines are its header:
//
//	-- name: entity-events
//	-- description: The latest events of one car or booking, newest first.
//	-- param: id text  The car or booking id.
//	-- param: limit count default=50  How many events.
//	SELECT ... WHERE entity = :id ... LIMIT :limit
//
// Parameters are typed (see Types) and bound, never interpolated: each
// :name becomes $n with a cast to its type. The built-in entries are
// embedded; a directory adds entries or overrides them by name. Every run
// is one statement in a read-only transaction with a statement timeout and
// a row cap (see Run).
package playbook
