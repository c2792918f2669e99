// Package snapshotter is the worker's snapshot scheduler: it takes a
// snapshot of the counter views at every interval boundary and at every
// local midnight of the business time zone, and prunes the snapshots older
// than the retention. Each due instant is a slot that identifies its
// snapshot, so with several workers running exactly one takes it.
package snapshotter
