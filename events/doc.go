// Package events is tally's event contract: the envelope, the typed
// payloads of the seven known types, decoding and validation in the
// contract's order with a small fixed set of error codes, the total order
// of one entity's events, and a Publisher that the product's own services
// import to publish events with Nats-Msg-Id set.
//
// It imports nothing of tally and only the standard library and nats.go.
package events
