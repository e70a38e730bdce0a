//go:build !linux

package pageout

import "errors"

// Release needs Linux's madvise(MADV_PAGEOUT).
func Release() (before, after int64, err error) {
	return 0, 0, errors.New("releasing the executable's pages needs Linux")
}
