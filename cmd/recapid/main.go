// Command recapid records how Python functions are called, from outside the process.
package main

import (
	"os"

	"github.com/recapi/recapi/daemon"
)

func main() { os.Exit(daemon.Main(os.Args[1:])) }
