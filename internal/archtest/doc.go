// Package archtest holds the test that keeps docs/architecture.md true: it
// reads every package's imports from the source (go/build) and checks them
// against the table of layers that page draws. It has no code of its own.
package archtest
