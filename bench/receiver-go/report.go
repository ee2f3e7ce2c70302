package main

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Arrival times are CLOCK_MONOTONIC nanoseconds, the clock of Node's
// process.hrtime, so the bench converts them to its performance.now() without
// any clock agreement beyond the kernel's.
var monoBase, wallBase = func() (int64, time.Time) {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic(errno)
	}
	return ts.Nano(), time.Now()
}()

// monoNow reads Go's own monotonic clock (also CLOCK_MONOTONIC) against the base: no syscall.
func monoNow() int64 { return monoBase + int64(time.Since(wallBase)) }

// One message id's deliveries since the last flush.
type tally struct {
	count       int
	first, last int64
}

// report batches deliveries per message id and writes them, with the other
// events, as JSON lines: {"t":"d","d":[[id,count,firstNs,lastNs],...]}. One line
// per flush, not per delivery, keeps the parent's reading cheap at 100,000/s.
type report struct {
	mu      sync.Mutex
	order   []string
	tallies map[string]*tally
	wmu     sync.Mutex
	w       *bufio.Writer
}

func newReport(w io.Writer) *report {
	return &report{tallies: map[string]*tally{}, w: bufio.NewWriterSize(w, 1<<16)}
}

func (r *report) delivered(id []byte, at int64) {
	r.mu.Lock()
	// Looked up without a copy; copied once per id per flush.
	t := r.tallies[string(id)]
	if t == nil {
		t = &tally{first: at}
		r.tallies[string(id)] = t
		r.order = append(r.order, string(id))
	}
	t.count++
	t.last = at
	r.mu.Unlock()
}

func (r *report) flushLoop(every time.Duration) {
	for {
		time.Sleep(every)
		r.flush()
	}
}

func (r *report) flush() {
	r.mu.Lock()
	order, tallies := r.order, r.tallies
	if len(order) > 0 {
		r.order, r.tallies = nil, map[string]*tally{}
	}
	r.mu.Unlock()
	if len(order) == 0 {
		return
	}
	line := append(make([]byte, 0, 64*len(order)), `{"t":"d","d":[`...)
	for i, id := range order {
		t := tallies[id]
		if i > 0 {
			line = append(line, ',')
		}
		line = append(line, '[')
		line = strconv.AppendQuote(line, id)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(t.count), 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, t.first, 10)
		line = append(line, ',')
		line = strconv.AppendInt(line, t.last, 10)
		line = append(line, ']')
	}
	line = append(line, "]}\n"...)
	r.write(line)
}

// event writes one other event (ready, a stream's end) at once.
func (r *report) event(v map[string]any) {
	line, _ := json.Marshal(v)
	r.write(append(line, '\n'))
}

func (r *report) write(line []byte) {
	r.wmu.Lock()
	_, _ = r.w.Write(line)
	_ = r.w.Flush()
	r.wmu.Unlock()
}
