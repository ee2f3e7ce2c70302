package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	// Per stream; the server's events are small, so this is never the limit.
	streamWindow = 1 << 20
	// Window given back once this much was read (stream / connection).
	streamRefill = streamWindow / 4
	connRefill   = 16 << 20
)

// One h2c connection (prior knowledge) carrying many Subscribe streams. One
// goroutine reads it; writes (opens, acks, window updates) take wmu.
type conn struct {
	nc      net.Conn
	out     *report
	closing *atomic.Bool

	wmu        sync.Mutex
	bw         *bufio.Writer
	fr         *http2.Framer
	hbuf       bytes.Buffer
	henc       *hpack.Encoder
	next       uint32
	smu        sync.Mutex
	byID       map[uint32]*stream
	authority  string
	unreadConn uint32
}

type stream struct {
	index   int
	onReady func()
	ready   bool
	pending []byte // an envelope split over DATA frames
	unread  uint32
	ended   bool
}

func dial(addr string, out *report, closing *atomic.Bool) (*conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, out: out, closing: closing, next: 1, byID: map[uint32]*stream{}, authority: addr}
	c.bw = bufio.NewWriterSize(nc, 64<<10)
	c.fr = http2.NewFramer(c.bw, bufio.NewReaderSize(nc, 64<<10))
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	// One DATA frame object per connection, not one per delivery: less for the GC.
	c.fr.SetReuseFrames()
	c.henc = hpack.NewEncoder(&c.hbuf)
	if _, err := c.bw.WriteString(http2.ClientPreface); err != nil {
		return nil, err
	}
	if err := c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow},
	); err != nil {
		return nil, err
	}
	if err := c.fr.WriteWindowUpdate(0, 1<<30); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	go c.readLoop()
	return c, nil
}

// open starts stream `index`: HEADERS, then the request as one DATA frame that
// ends the client's side. Buffered until flushWrites.
func (c *conn) open(index int, path string, request []byte, extra map[string]string, onReady func()) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	id := c.next
	c.next += 2
	c.smu.Lock()
	c.byID[id] = &stream{index: index, onReady: onReady}
	c.smu.Unlock()
	c.hbuf.Reset()
	for _, f := range [][2]string{
		{":method", "POST"},
		{":scheme", "http"},
		{":authority", c.authority},
		{":path", path},
		{"content-type", "application/grpc+proto"},
		{"te", "trailers"},
	} {
		_ = c.henc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for k, v := range extra {
		_ = c.henc.WriteField(hpack.HeaderField{Name: k, Value: v})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      id,
		BlockFragment: c.hbuf.Bytes(),
		EndHeaders:    true,
	}); err != nil {
		return err
	}
	return c.fr.WriteData(id, true, request)
}

func (c *conn) flushWrites() {
	c.wmu.Lock()
	_ = c.bw.Flush()
	c.wmu.Unlock()
}

// write runs one framer write and sends it at once (acks, window updates).
func (c *conn) write(f func(*http2.Framer) error) {
	c.wmu.Lock()
	if f(c.fr) == nil {
		_ = c.bw.Flush()
	}
	c.wmu.Unlock()
}

func (c *conn) close() { _ = c.nc.Close() }

func (c *conn) readLoop() {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.failAll(fmt.Sprintf("connection: %v", err))
			return
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			c.onData(f)
		case *http2.MetaHeadersFrame:
			c.onHeaders(f)
		case *http2.RSTStreamFrame:
			c.end(f.StreamID, fmt.Sprintf("RST_STREAM %v", f.ErrCode))
		case *http2.GoAwayFrame:
			c.failAll(fmt.Sprintf("GOAWAY %v", f.ErrCode))
		case *http2.SettingsFrame:
			if !f.IsAck() {
				c.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
			}
		}
	}
}

func (c *conn) stream(id uint32) *stream {
	c.smu.Lock()
	s := c.byID[id]
	c.smu.Unlock()
	return s
}

func (c *conn) onData(f *http2.DataFrame) {
	at := monoNow()
	n := uint32(f.Length)
	c.unreadConn += n
	if c.unreadConn >= connRefill {
		got := c.unreadConn
		c.unreadConn = 0
		c.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, got) })
	}
	s := c.stream(f.StreamID)
	if s == nil {
		return
	}
	data := f.Data()
	if len(s.pending) > 0 {
		s.pending = append(s.pending, data...)
		data = s.pending
	}
	rest := c.envelopes(s, data, at)
	// Keep only the incomplete tail, copied: the framer reuses its buffer.
	s.pending = append(s.pending[:0], rest...)
	s.unread += n
	if s.unread >= streamRefill && !f.StreamEnded() {
		got := s.unread
		s.unread = 0
		c.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(f.StreamID, got) })
	}
	if f.StreamEnded() {
		c.end(f.StreamID, "stream ended without trailers")
	}
}

// envelopes handles every whole gRPC envelope in data and returns the remainder.
func (c *conn) envelopes(s *stream, data []byte, at int64) []byte {
	for len(data) >= 5 {
		size := int(data[1])<<24 | int(data[2])<<16 | int(data[3])<<8 | int(data[4])
		if len(data) < 5+size {
			break
		}
		if data[0] == 0 {
			c.onMessage(s, data[5:5+size], at)
		}
		data = data[5+size:]
	}
	return data
}

func (c *conn) onMessage(s *stream, msg []byte, at int64) {
	ev, id := classify(msg)
	switch ev {
	case eventReady:
		if !s.ready {
			s.ready = true
			s.onReady()
		}
	case eventDelivery:
		c.out.delivered(id, at)
	}
}

func (c *conn) onHeaders(f *http2.MetaHeadersFrame) {
	if status := f.PseudoValue("status"); status != "" && status != "200" {
		c.end(f.StreamID, "HTTP status "+status)
		return
	}
	if f.StreamEnded() {
		// Trailers (or a trailers-only answer): the stream is over.
		c.end(f.StreamID, fmt.Sprintf("grpc-status %s: %s", headerValue(f, "grpc-status"), headerValue(f, "grpc-message")))
	}
}

func headerValue(f *http2.MetaHeadersFrame, name string) string {
	for _, h := range f.Fields {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

func (c *conn) end(id uint32, reason string) {
	c.smu.Lock()
	s := c.byID[id]
	delete(c.byID, id)
	c.smu.Unlock()
	if s == nil || s.ended || c.closing.Load() {
		return
	}
	s.ended = true
	c.out.event(map[string]any{"t": "end", "stream": s.index, "reason": reason})
}

func (c *conn) failAll(reason string) {
	c.smu.Lock()
	ids := make([]uint32, 0, len(c.byID))
	for id := range c.byID {
		ids = append(ids, id)
	}
	c.smu.Unlock()
	for _, id := range ids {
		c.end(id, reason)
	}
}
