// Command dump lists an ISO image as the iso9660 package reads it (debug aid).
package main

import (
	"fmt"
	"os"

	"github.com/loops-cli/loops/blockloop/iso9660"
)

func main() {
	f, err := os.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	st, _ := f.Stat()
	img, err := iso9660.Open(f, st.Size())
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	fmt.Printf("tree=%v label=%q rr=%v joliet=%v udf=%v\n", img.Tree(), img.Label(), img.RockRidge(), img.Joliet(), img.UDF())
	var walk func(e *iso9660.Entry, p string)
	walk = func(e *iso9660.Entry, p string) {
		fmt.Printf("%-60q %v %d %d:%d n=%d ino=%d %s %q %v err=%v\n", p, e.Mode, e.Size, e.UID, e.GID, e.Nlink, e.Ino, e.ModTime.UTC().Format("2006-01-02T15:04:05"), e.Target, e.Extents, e.DataErr())
		if e.IsDir() {
			kids, err := e.Entries()
			if err != nil {
				fmt.Println("  list error:", err)
			}
			for _, k := range kids {
				walk(k, p+"/"+k.Name)
			}
		}
	}
	walk(img.Root(), "")
	fmt.Println("check:", img.Check())
}
