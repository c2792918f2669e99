// Package fleetsim simulates a car-sharing fleet and turns it into the
// message stream tally consumes: cars changing status, bookings confirmed,
// started, ended or cancelled, payments captured and refunded, in several
// cities, with the trouble real publishers cause (duplicates with and
// without Nats-Msg-Id, conflicting copies, events of one entity out of
// order, invalid messages of every kind, types tally does not know yet,
// bookings that never start).
//
// A simulation is deterministic: the same Config yields byte-identical
// messages. It is generated lazily in emission order (a heap of pending
// events, a few per car), so a benchmark can stream millions of events in
// constant memory. Every message carries what a test needs to check tally
// against it: whether it is invalid and with which events.Code, whether it
// is a duplicate, a conflicting copy or emitted out of order.
//
// It serves `tally demo` (DemoDay), the integration tests (Troubled) and
// `tally bench`; Publish sends a stream to JetStream.
package fleetsim
