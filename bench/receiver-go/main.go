// The group bench's cheap receiver (issue 13): N gRPC Subscribe streams over K
// h2c connections, framed by hand with golang.org/x/net/http2, so the load
// generator costs a fraction of the server it measures. It reads one JSON
// config line on stdin, writes JSON lines on stdout (see report.go), and exits
// when stdin closes.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	// host:port of the h2c server.
	Addr string `json:"addr"`
	// e.g. /im.v1.EventService/Subscribe
	Path string `json:"path"`
	// The request message, already enveloped (5-byte gRPC prefix), sent on every stream.
	Request     []byte `json:"request"`
	Connections int    `json:"connections"`
	// Streams opened before waiting for their Ready (the TS receivers' wave).
	Wave int `json:"wave"`
	// Per stream, its extra request headers (authorization).
	Streams []map[string]string `json:"streams"`
}

func main() {
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	line, err := in.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		fatal("reading the config line: %v", err)
	}
	var cfg config
	if err := json.Unmarshal(line, &cfg); err != nil {
		fatal("config: %v", err)
	}
	if cfg.Connections < 1 || len(cfg.Streams) == 0 {
		fatal("config needs connections >= 1 and at least one stream")
	}
	if cfg.Wave < 1 {
		cfg.Wave = 500
	}

	out := newReport(os.Stdout)
	var closing atomic.Bool
	conns := make([]*conn, cfg.Connections)
	for i := range conns {
		c, err := dial(cfg.Addr, out, &closing)
		if err != nil {
			fatal("connection %d: %v", i, err)
		}
		conns[i] = c
	}
	go out.flushLoop(2 * time.Millisecond)

	// Stdin closing is the signal to stop: the parent's close(), or the parent dying.
	go func() {
		_, _ = io.Copy(io.Discard, in)
		closing.Store(true)
		for _, c := range conns {
			c.close()
		}
		out.flush()
		os.Exit(0)
	}()

	// In waves, each once the previous said Ready, as bench/receivers.ts does.
	started := time.Now()
	for from := 0; from < len(cfg.Streams); from += cfg.Wave {
		to := min(from+cfg.Wave, len(cfg.Streams))
		var ready sync.WaitGroup
		ready.Add(to - from)
		for i := from; i < to; i++ {
			c := conns[i%len(conns)]
			if err := c.open(i, cfg.Path, cfg.Request, cfg.Streams[i], ready.Done); err != nil {
				fatal("opening stream %d: %v", i, err)
			}
		}
		for _, c := range conns {
			c.flushWrites()
		}
		ready.Wait()
	}
	out.event(map[string]any{
		"t":       "ready",
		"streams": len(cfg.Streams),
		"ms":      time.Since(started).Milliseconds(),
	})
	select {}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "receiver-go: "+format+"\n", args...)
	os.Exit(1)
}
