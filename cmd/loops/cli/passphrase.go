package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/loops-cli/loops/blockloop"
)

// maxKeyFile bounds a --key-file, as cryptsetup's default
// (--keyfile-size unset: 8 MiB).
const maxKeyFile = 8 << 20

// passphrase is how loops mount and loops block probe get the passphrase
// of an encrypted volume: the whole of --key-file FILE ("-": stdin), as
// cryptsetup's --key-file reads it, or asked on the terminal without
// echo, up to three times. Nil (no key file, no terminal) leaves the
// volume locked.
type passphrase struct {
	keyFile string
	in      io.Reader // stdin, for "-"
	image   string
	tty     func() (*os.File, error) // the terminal to ask on
	asked   bool
}

// newPassphrase is the source of a command: a key file, or the terminal.
func newPassphrase(keyFile string, in io.Reader, image string) *passphrase {
	return &passphrase{keyFile: keyFile, in: in, image: image, tty: openTTY}
}

func openTTY() (*os.File, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) }

// tries is how often a wrong passphrase is asked: once from a key file.
func (p *passphrase) tries() int {
	if p.keyFile != "" {
		return 1
	}
	return blockloop.DefaultPassphraseTries
}

// get is the blockloop.PassphraseFunc.
func (p *passphrase) get(l blockloop.Layer, attempt int) ([]byte, error) {
	if p.keyFile != "" {
		return p.readKeyFile()
	}
	tty, err := p.tty()
	if err != nil {
		return nil, fmt.Errorf("%s is encrypted (%s) and there is no terminal to ask for its passphrase on: give it with --key-file FILE (- for stdin)", p.image, l.Name)
	}
	defer tty.Close()
	if attempt > 1 {
		fmt.Fprintln(tty, "No key available with this passphrase.")
	}
	what := l.Name
	if l.Label != "" {
		what += fmt.Sprintf(" %q", l.Label)
	}
	fmt.Fprintf(tty, "Enter passphrase for %s (%s): ", p.image, what)
	pass, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("read the passphrase: %w", err)
	}
	return pass, nil
}

// readKeyFile reads the whole key file (or stdin), at most maxKeyFile
// bytes.
func (p *passphrase) readKeyFile() ([]byte, error) {
	r := p.in
	if p.keyFile != "-" {
		f, err := os.Open(p.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--key-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	var b bytes.Buffer
	n, err := b.ReadFrom(io.LimitReader(r, maxKeyFile+1))
	key := b.Bytes()
	if err != nil || n > maxKeyFile {
		clear(key)
		if err == nil {
			err = fmt.Errorf("larger than %d bytes", maxKeyFile)
		}
		return nil, fmt.Errorf("--key-file %s: %w", p.keyFile, err)
	}
	return key, nil
}
