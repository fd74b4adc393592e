package iso9660_test

import (
	"fmt"
	"io/fs"
	"log"
	"os"

	"github.com/loops-cli/loops/blockloop/iso9660"
)

// An ISO image's files listed and read with io/fs, without mounting it.
func ExampleImage_FS() {
	f, err := os.Open("debian.iso")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		log.Fatal(err)
	}
	img, err := iso9660.Open(f, st.Size())
	if err != nil {
		log.Fatal(err)
	}
	fs.WalkDir(img.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Println(p)
		return nil
	})
	sums, err := fs.ReadFile(img.FS(), "md5sum.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes of checksums\n", len(sums))
}
