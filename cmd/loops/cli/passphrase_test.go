package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop"
)

// openPty opens a pseudo-terminal pair: the controller (what a person
// types into) and the terminal the passphrase is read from.
func openPty(t *testing.T) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close(); tty.Close() })
	return ctl, tty
}

// The terminal: the passphrase is read without echo; a second attempt
// says the first was wrong, as cryptsetup does.
func TestPassphraseTerminal(t *testing.T) {
	ctl, tty := openPty(t)
	p := newPassphrase("", nil, "disk.img")
	p.tty = func() (*os.File, error) { return os.NewFile(uintptr(dupFd(t, tty)), "tty"), nil }
	l := blockloop.Layer{Kind: blockloop.LayerLUKS, Name: "LUKS2", Label: "vault"}
	// A person: types each answer once its prompt shows (within 5 s).
	answers := []string{"first try\n", "second\n"}
	shown := make(chan string)
	go func() {
		ctl.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		var out string
		for typed := 0; ; {
			n, err := ctl.Read(buf)
			out += string(buf[:n])
			if typed < len(answers) && strings.Count(out, "Enter passphrase") > typed {
				ctl.Write([]byte(answers[typed]))
				typed++
			}
			if err != nil || (typed == len(answers) && strings.Count(out, "\n") >= 3) {
				shown <- out
				return
			}
		}
	}()
	got, err := p.get(l, 1)
	if err != nil || string(got) != "first try" {
		t.Fatalf("attempt 1 = %q, %v", got, err)
	}
	got, err = p.get(l, 2)
	if err != nil || string(got) != "second" {
		t.Fatalf("attempt 2 = %q, %v", got, err)
	}
	out := <-shown
	if !strings.Contains(out, `Enter passphrase for disk.img (LUKS2 "vault"): `) || !strings.Contains(out, "No key available with this passphrase.") || strings.Contains(out, "first try") || strings.Contains(out, "second") {
		t.Errorf("the terminal showed %q: want the prompt, no echo", out)
	}
	if p.tries() != blockloop.DefaultPassphraseTries {
		t.Errorf("tries() = %d on a terminal", p.tries())
	}
}

func dupFd(t *testing.T, f *os.File) int {
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// --key-file: the whole file, newline included, tried once; - is stdin;
// no terminal and no key file says how to give it.
func TestPassphraseKeyFile(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "key")
	os.WriteFile(kf, []byte("secret\n"), 0o600)
	l := blockloop.Layer{Name: "LUKS2"}
	p := newPassphrase(kf, nil, "disk.img")
	if got, err := p.get(l, 1); err != nil || string(got) != "secret\n" || p.tries() != 1 {
		t.Errorf("key file = %q, %v (tries %d)", got, err, p.tries())
	}
	p = newPassphrase("-", bytes.NewReader([]byte("from stdin")), "disk.img")
	if got, err := p.get(l, 1); err != nil || string(got) != "from stdin" {
		t.Errorf("stdin = %q, %v", got, err)
	}
	p = newPassphrase(filepath.Join(dir, "missing"), nil, "disk.img")
	if _, err := p.get(l, 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing key file = %v", err)
	}
	p = newPassphrase("", nil, "disk.img")
	p.tty = func() (*os.File, error) { return nil, os.ErrNotExist }
	if _, err := p.get(l, 1); err == nil || !strings.Contains(err.Error(), "--key-file FILE") {
		t.Errorf("no terminal = %v, want how to give the passphrase", err)
	}
}
