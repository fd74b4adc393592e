package cli

import (
	"context"
	"errors"
)

// serveISO is replaced when isofs lands.
func serveISO(ctx context.Context, opts *serveISOOptions, ready func()) error {
	return errors.New("the userspace ISO 9660 reader is not built in")
}
