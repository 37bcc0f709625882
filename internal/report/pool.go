package report

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrBusy is a submission that found no room within photo_decode.wait: to hold its body
// (max_upload_memory) or to decode a photo (photo_decode). 503 with Retry-After.
var ErrBusy = errors.New("server busy with other reports")

// decodePool bounds photo decodes across all requests: at most max_concurrent at once, and the
// memory their headers promise (photo.Header.DecodeBytes) at most max_bytes together. A decode waits
// for room, first come first served, until its request ends or photo_decode.wait passes.
type decodePool struct {
	slots *semaphore.Weighted
	mem   *semaphore.Weighted
	max   int64
	wait  time.Duration
	m     *metrics
}

func newDecodePool(c PhotoDecodeConfig, m *metrics) *decodePool {
	return &decodePool{slots: semaphore.NewWeighted(int64(c.MaxConcurrent)), mem: semaphore.NewWeighted(c.MaxBytes),
		max: c.MaxBytes, wait: c.Wait, m: m}
}

// acquire waits for a slot and n bytes of room; release gives them back. A wait that ends with ctx
// (the client left) returns ctx's error; one that outlasts the pool's wait returns ErrBusy.
func (p *decodePool) acquire(ctx context.Context, n int64) (release func(), err error) {
	if n > p.max {
		n = p.max // Inspect already refused anything over the per-photo limit, which is ≤ max
	}
	wctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	start := time.Now()
	defer func() { p.m.decodeWait.Observe(time.Since(start).Seconds()) }()
	if err := p.slots.Acquire(wctx, 1); err != nil {
		return nil, p.waitErr(ctx)
	}
	if err := p.mem.Acquire(wctx, n); err != nil {
		p.slots.Release(1)
		return nil, p.waitErr(ctx)
	}
	p.m.decodeInflight.Add(float64(n))
	return func() {
		p.m.decodeInflight.Sub(float64(n))
		p.mem.Release(n)
		p.slots.Release(1)
	}, nil
}

func (p *decodePool) waitErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("wait for photo decoding: %w", err)
	}
	return fmt.Errorf("%w: no room within %s", ErrBusy, p.wait)
}

// uploadPool bounds the memory submission bodies take while they are read and held (their photos
// stay in memory until stored): each reserves its Content-Length (max_body_bytes when unknown or
// larger) before reading, and waits for room like a decode.
type uploadPool struct {
	mem  *semaphore.Weighted
	max  int64
	body int64
	wait time.Duration
	m    *metrics
}

func newUploadPool(c Config, m *metrics) *uploadPool {
	return &uploadPool{mem: semaphore.NewWeighted(c.MaxUploadMemory), max: c.MaxUploadMemory, body: c.MaxBodyBytes,
		wait: c.PhotoDecode.Wait, m: m}
}

// acquire reserves room for a body of length bytes (-1: unknown).
func (p *uploadPool) acquire(ctx context.Context, length int64) (release func(), err error) {
	n := length
	if n < 0 || n > p.body {
		n = p.body
	}
	n = min(max(n, 1), p.max)
	wctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	if err := p.mem.Acquire(wctx, n); err != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("wait for upload memory: %w", err)
		}
		return nil, fmt.Errorf("%w: no room for a %d-byte body within %s", ErrBusy, n, p.wait)
	}
	p.m.uploadInflight.Add(float64(n))
	return func() {
		p.m.uploadInflight.Sub(float64(n))
		p.mem.Release(n)
	}, nil
}
