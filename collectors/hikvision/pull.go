package hikvision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/ioc-vn/ioc/internal/camera"
	"github.com/ioc-vn/ioc/stream"
)

// maxPartBytes bounds one part of an alert stream.
const maxPartBytes = 1 << 20

// pull keeps one device's alertStream open until ctx ends, reconnecting with exponential backoff
// (reset after a stream that delivered something).
func (c *Collector) pull(ctx context.Context, s StreamConfig) {
	camera.Reconnect(ctx, c.log.With("device", s.URL), c.m, c.cfg.ReconnectMin, c.cfg.ReconnectMax,
		func(ctx context.Context) (bool, error) { return c.stream(ctx, s) })
}

// stream reads one connection's parts until it fails; delivered says whether any part arrived.
func (c *Collector) stream(ctx context.Context, s StreamConfig) (delivered bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := c.connect(ctx, s)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return false, fmt.Errorf("alert stream: content type %q is not multipart with a boundary", resp.Header.Get("Content-Type"))
	}
	idle := time.AfterFunc(c.cfg.IdleTimeout, cancel)
	defer idle.Stop()
	pr := newPartReader(resp.Body, params["boundary"])
	for {
		hdr, data, err := pr.next()
		if err != nil {
			return delivered, fmt.Errorf("alert stream: %w", err)
		}
		idle.Reset(c.cfg.IdleTimeout)
		delivered = true
		ct, _, _ := mime.ParseMediaType(hdr.Get("Content-Type"))
		if strings.HasPrefix(ct, "image/") {
			continue // pictures in the stream belong to the previous alert; we keep no images
		}
		a, err := decodeOne(ct, "", data)
		if err != nil {
			c.m.DecodeErrors.WithLabelValues(stream.ReasonOf(err)).Inc()
			continue
		}
		if err := c.out.Emit(ctx, c.m, c.events([]Alert{a}, nil)); err != nil {
			return delivered, err
		}
	}
}

// partReader reads a long-lived multipart/mixed stream part by part. Unlike mime/multipart it
// honours each part's Content-Length, so an alert is delivered as soon as its bytes arrive instead
// of when the device sends the next boundary (which may be seconds later).
type partReader struct {
	br       *bufio.Reader
	dash     string // "--" + boundary
	atHeader bool   // the boundary line of the next part was already consumed
}

func newPartReader(r io.Reader, boundary string) *partReader {
	return &partReader{br: bufio.NewReaderSize(r, 64<<10), dash: "--" + boundary}
}

// line reads one line without its line ending; lines over the buffer size are an error.
func (p *partReader) line() (string, error) {
	b, err := p.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errors.New("multipart line too long")
		}
		if errors.Is(err, io.EOF) {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// next returns the headers and body of the next part; io.EOF after the closing boundary.
func (p *partReader) next() (textproto.MIMEHeader, []byte, error) {
	for !p.atHeader {
		l, err := p.line()
		if err != nil {
			return nil, nil, err
		}
		switch strings.TrimSpace(l) {
		case p.dash:
			p.atHeader = true
		case p.dash + "--":
			return nil, nil, io.EOF
		}
	}
	p.atHeader = false
	hdr, err := textproto.NewReader(p.br).ReadMIMEHeader()
	if err != nil {
		return nil, nil, fmt.Errorf("part header: %w", err)
	}
	if cl := hdr.Get("Content-Length"); cl != "" {
		n, err := strconv.Atoi(cl)
		if err != nil || n < 0 || n > maxPartBytes {
			return nil, nil, fmt.Errorf("part Content-Length %q not in [0, %d]", cl, maxPartBytes)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(p.br, body); err != nil {
			return nil, nil, fmt.Errorf("part body: %w", err)
		}
		return hdr, body, nil
	}
	// No length: the body runs to the next boundary line.
	var body []byte
	for {
		l, err := p.line()
		if err != nil {
			return nil, nil, fmt.Errorf("part body: %w", err)
		}
		if t := strings.TrimSpace(l); t == p.dash || t == p.dash+"--" {
			p.atHeader = t == p.dash
			return hdr, body, nil
		}
		if len(body)+len(l) > maxPartBytes {
			return nil, nil, fmt.Errorf("part larger than %d bytes", maxPartBytes)
		}
		if len(body) > 0 {
			body = append(body, '\n')
		}
		body = append(body, l...)
	}
}

// connect sends the alertStream GET, answering a Digest challenge when asked (or sending Basic).
func (c *Collector) connect(ctx context.Context, s StreamConfig) (*http.Response, error) {
	u := strings.TrimRight(s.URL, "/") + AlertStreamPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("alert stream request: %w", err)
	}
	if s.Auth == "basic" {
		req.SetBasicAuth(s.Username, s.Password)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("alert stream: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized && s.Auth != "basic" {
		ch, ok := parseChallenge(resp.Header.Get("WWW-Authenticate"))
		drain(resp)
		if !ok {
			return nil, fmt.Errorf("alert stream: 401 without a Digest challenge")
		}
		h, err := digestAuthorization(ch, s.Username, s.Password, http.MethodGet, req.URL.RequestURI(), newCnonce(), 1)
		if err != nil {
			return nil, err
		}
		req = req.Clone(ctx)
		req.Header.Set("Authorization", h)
		if resp, err = c.client.Do(req); err != nil {
			return nil, fmt.Errorf("alert stream: %w", err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		drain(resp)
		return nil, fmt.Errorf("alert stream: HTTP %d", resp.StatusCode)
	}
	return resp, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
