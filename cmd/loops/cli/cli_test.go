package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		code    int
		stderr  string
		notTrim bool
	}{
		{[]string{"net", "bogus"}, exitUsage, `unknown command "bogus" for "loops net"`, false},
		{[]string{"net", "statsu"}, exitUsage, `did you mean "status"?`, false},
		{[]string{"net", "status", "--no-such-flag"}, exitUsage, "unknown flag: --no-such-flag", false},
		{[]string{"net", "status", "extra"}, exitUsage, "takes no arguments", false},
		{[]string{"net", "addr", "add"}, exitUsage, "takes one address", false},
		{[]string{"net", "addr", "add", "10.0.0.1"}, exitFailure, "lo carries 127.0.0.0/8 and ::1 only", false},
		{[]string{"net", "addr", "add", "not-an-ip"}, exitUsage, `parse "not-an-ip"`, false},
		{[]string{"net", "status", "--netns", "a", "--netns-path", "/b"}, exitUsage, "not both", false},
		{[]string{"net", "listeners", "--port", "70000"}, exitUsage, "not a port", false},
		{[]string{"net", "hosts", "add", "x", "10.1.1.1", "--hosts-file", "/nonexistent/hosts"}, exitFailure, "loopback addresses only", false},
		{[]string{"net", "status", "--netns", "loopstest-surely-missing"}, exitFailure, "ip netns list", false},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			io, _, stderr := Test(false)
			code := run(tc.args, io)
			if code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tc.stderr)
			}
		})
	}
}

func TestUsageErrorShowsUsage(t *testing.T) {
	io, _, stderr := Test(false)
	run([]string{"net", "addr", "del"}, io)
	if !strings.Contains(stderr.String(), "Usage: loops net addr del <addr>[/<prefix>]") {
		t.Errorf("stderr = %q, want the usage line", stderr)
	}
}

func TestNewNetAddrAddCmd(t *testing.T) {
	f := NewFactory(nil, nil)
	f.IO, _, _ = Test(false)
	nf := &netFlags{}
	var got *netAddrOptions
	cmd := newNetAddrAddCmd(f, nf, func(o *netAddrOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"127.0.0.3/8", "--label", "lo:3"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Addr != "127.0.0.3/8" || got.Label != "lo:3" {
		t.Fatalf("options = %+v, want Addr 127.0.0.3/8 Label lo:3", got)
	}
}

func TestNetnsFlagsReachSubcommands(t *testing.T) {
	io, _, _ := Test(false)
	root := NewRootCmd(NewFactory(io, nil))
	root.SetArgs([]string{"net", "--netns", "blue", "up"})
	// Replace up's RunE to capture the namespace flags without netlink.
	up, _, err := root.Find([]string{"net", "up"})
	if err != nil {
		t.Fatal(err)
	}
	var target string
	up.RunE = func(cmd *cobra.Command, args []string) error {
		target = cmd.Flag("netns").Value.String()
		return nil
	}
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if target != "blue" {
		t.Fatalf("--netns seen by up = %q, want blue", target)
	}
}

func TestCommandLineQuoting(t *testing.T) {
	// commandLine reproduces os.Args; check the quoting rule directly.
	for in, want := range map[string]string{"plain": "plain", "a b": "'a b'", "it's": `'it'\''s'`} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHelpText lints every command's help, as tailscale does: a Short that
// starts with a capital and has no final period, an Example for every leaf,
// and --json on every command that reads state.
func TestHelpText(t *testing.T) {
	io, _, _ := Test(false)
	root := NewRootCmd(NewFactory(io, nil))
	readers := map[string]bool{"loops net status": true, "loops net listeners": true, "loops net check": true, "loops net hosts list": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		path := c.CommandPath()
		if c.Short == "" || strings.HasSuffix(c.Short, ".") || strings.ToUpper(c.Short[:1]) != c.Short[:1] {
			t.Errorf("%s: Short %q should start with a capital and not end with a period", path, c.Short)
		}
		if !strings.HasPrefix(c.Use, c.Name()) {
			t.Errorf("%s: Use %q should start with the command name", path, c.Use)
		}
		if !c.HasSubCommands() && c.Runnable() {
			if c.Example == "" {
				t.Errorf("%s: no Example", path)
			}
			if c.Long == "" {
				t.Errorf("%s: no Long description", path)
			}
		}
		if readers[path] {
			if c.Flags().Lookup("json") == nil {
				t.Errorf("%s reads state but has no --json", path)
			}
			delete(readers, path)
		}
		for _, sub := range c.Commands() {
			if sub.Name() != "help" {
				walk(sub)
			}
		}
	}
	walk(root)
	for path := range readers {
		t.Errorf("%s: command not found in the tree", path)
	}
}
