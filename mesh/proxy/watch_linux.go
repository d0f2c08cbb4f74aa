package proxy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"
)

// watchFile sends on the returned channel (one pending value at most)
// whenever a file named like path is written or renamed into its
// directory: drover's write through the Engine API is seen at once, not at
// the next poll. It returns nil when the kernel refuses the watch (the
// poll still sees every change).
func watchFile(ctx context.Context, path string) <-chan struct{} {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil
	}
	dir, name := filepath.Dir(path), filepath.Base(path)
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CLOSE_WRITE|syscall.IN_MOVED_TO); err != nil {
		syscall.Close(fd)
		return nil
	}
	// A non-blocking descriptor goes through Go's poller: Close ends the
	// Read below.
	f := os.NewFile(uintptr(fd), "inotify")
	ch := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				end := off + syscall.SizeofInotifyEvent + int(ev.Len)
				if end > n {
					break
				}
				got := string(buf[off+syscall.SizeofInotifyEvent : end])
				if i := strings.IndexByte(got, 0); i >= 0 {
					got = got[:i]
				}
				if got == name {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
				off = end
			}
		}
	}()
	return ch
}
