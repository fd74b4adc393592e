// Command loops puts the three Linux loopbacks behind one CLI: the network
// interface lo (loops net), loop devices (loops mount, loops block) and the
// audio loopback (loops audio).
package main

import (
	"os"

	"github.com/loops-cli/loops/cmd/loops/cli"
)

func main() { os.Exit(cli.Main()) }
