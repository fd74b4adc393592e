// Package stress is loops' reliability and security suite: the real CLI
// under load (parallel mounts, hosts edits, audio cycles), under faults (a
// killed FUSE server or sound server, a full disk, a loop device detached or
// a mount point removed behind loops' back), against hostile images, and run
// as an unprivileged user. Everything is in the tests; see
// docs/reliability.md. `make test` runs the short form; `make stress`
// (LOOPS_STRESS=full) the full one.
package stress
