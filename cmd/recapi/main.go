// Command recapi shows, merges and converts what recapid recorded. It needs
// no privileges.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
