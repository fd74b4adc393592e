package fat_test

import (
	"fmt"
	"io/fs"
	"log"
	"os"

	"github.com/loops-cli/loops/blockloop/fat"
)

// A FAT image read as an fs.FS: walked and read with io/fs, without a
// kernel driver, FUSE or privilege. testdata/example.img was made with
// mkfs.vfat -C -n EXAMPLE example.img 64 and filled by mcopy.
func ExampleFS_FS() {
	img, err := os.Open("testdata/example.img")
	if err != nil {
		log.Fatal(err)
	}
	defer img.Close()
	st, err := img.Stat()
	if err != nil {
		log.Fatal(err)
	}
	vol, err := fat.Open(img, st.Size())
	if err != nil {
		log.Fatal(err)
	}
	fsys := vol.FS()
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Printf("%v %5d %s\n", info.Mode(), info.Size(), p)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	readme, err := fs.ReadFile(fsys, "readme.txt") // FAT names are case-insensitive
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(readme))
	// Output:
	// drwxr-xr-x 16384 .
	// -rw-r--r--    23 README.TXT
	// drwxr-xr-x  2048 docs
	// -rw-r--r--     7 docs/Long file name.txt
	// hello from a FAT image
}
