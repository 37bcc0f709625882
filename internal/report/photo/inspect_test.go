package photo

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"
	"testing"

	"github.com/ioc-vn/ioc/internal/report/reporttest"
)

func noisePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func grey(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	return img
}

func plainJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 13)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// progressive turns a baseline JPEG's SOF0 marker into SOF2: Inspect must read it as progressive
// (the file would not decode, which Inspect never tries).
func progressive(jpg []byte) []byte {
	out := bytes.Clone(jpg)
	if i := bytes.Index(out, []byte{0xFF, 0xC0}); i >= 0 {
		out[i+1] = 0xC2
	}
	return out
}

// manyScans appends n empty start-of-scan segments before the end of a JPEG (a CPU bomb needs no
// more to be recognised).
func manyScans(jpg []byte, n int) []byte {
	out := bytes.Clone(jpg[:len(jpg)-2])
	for range n {
		out = append(out, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00)
	}
	return append(out, 0xFF, 0xD9)
}

func TestInspect(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxBytes = 8 << 20
	bomb := reporttest.BombPNG(7000, 7000, 16, false)
	if len(bomb) > 1<<20 {
		t.Fatalf("bomb fixture is %d bytes, want a small file", len(bomb))
	}
	for _, tc := range []struct {
		name       string
		data       []byte
		reason     string // "" accepted
		depth      int
		interlaced bool
		atLeast    int64 // accepted: DecodeBytes at least this
	}{
		{"16-bit 7000×7000 bomb", bomb, "memory", 0, false, 0},
		{"8-bit 7000×7000 interlaced", reporttest.BombPNG(7000, 7000, 8, true), "memory", 0, false, 0},
		{"8-bit 6000×6000 plain", reporttest.BombPNG(6000, 6000, 8, false), "", 8, false, 6000 * 6000 * 4},
		{"16-bit 2000×2000", reporttest.BombPNG(2000, 2000, 16, false), "", 16, false, 2000 * 2000 * 8},
		{"interlaced 2000×2000", reporttest.BombPNG(2000, 2000, 8, true), "", 8, true, 2 * 2000 * 2000 * 4},
		{"8000×8000 pixels", reporttest.BombPNG(8000, 8000, 8, false), "pixels", 0, false, 0},
		{"baseline jpeg", plainJPEG(t, 320, 240), "", 8, false, 320 * 240 * 3 / 2},
		{"progressive jpeg", progressive(plainJPEG(t, 320, 240)), "", 8, true, 5 * 320 * 240 * 3 / 2},
		{"progressive jpeg of 100 scans", manyScans(progressive(plainJPEG(t, 320, 240)), 100), "scans", 0, false, 0},
		{"truncated png", bomb[:20], "corrupt", 0, false, 0},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), "media_type", 0, false, 0},
		{"too many bytes", append(bytes.Clone(bomb), make([]byte, 8<<20)...), "bytes", 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Inspect(tc.data, lim)
			if got := Reason(err); got != tc.reason {
				t.Fatalf("reason %q (%v), want %q", got, err, tc.reason)
			}
			if tc.reason != "" {
				if tc.reason == "memory" && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("%v is not ErrTooLarge", err)
				}
				return
			}
			if h.BitDepth != tc.depth || h.Interlaced != tc.interlaced || h.DecodeBytes < tc.atLeast || h.DecodeBytes > lim.MaxDecodeBytes {
				t.Fatalf("header %+v, want depth %d, interlaced %v, decode ≥ %d", h, tc.depth, tc.interlaced, tc.atLeast)
			}
		})
	}
}

// largeAllocs is the bytes allocated so far in objects beyond the small size classes (bitmaps,
// buffers); the small ones are the generic image paths' per-pixel garbage, which the collector
// takes back as it goes and which never adds up to a bitmap.
func largeAllocs() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	n := int64(m.TotalAlloc)
	for _, c := range m.BySize {
		n -= int64(c.Size) * int64(c.Mallocs)
	}
	return n
}

// TestDecodeBytesBoundsProcess processes photos of each kind and checks that Process allocated no
// more than the header promised (Header.DecodeBytes is what the decode pool reserves).
func TestDecodeBytesBoundsProcess(t *testing.T) {
	lim := DefaultLimits()
	rgba := image.NewNRGBA(image.Rect(0, 0, 1200, 900))
	for i := range rgba.Pix {
		rgba.Pix[i] = byte(i * 31)
	}
	deep := image.NewNRGBA64(image.Rect(0, 0, 900, 700))
	for y := range 700 {
		for x := range 900 {
			deep.Set(x, y, color.NRGBA64{uint16(x * 70), uint16(y * 90), 1234, 0xffff})
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"grey png", noisePNG(t, grey(1500, 1000))},
		{"rgba png", noisePNG(t, rgba)},
		{"16-bit png", noisePNG(t, deep)},
		{"interlaced png", reporttest.BombPNG(1500, 1100, 8, true)},
		{"jpeg 3000×2000 (scaled down)", plainJPEG(t, 3000, 2000)},
		{"rotated jpeg", exifJPEG(t, 6)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Inspect(tc.data, lim)
			if err != nil {
				t.Fatal(err)
			}
			before := largeAllocs()
			if _, _, err := Process(tc.data, lim); err != nil {
				t.Fatal(err)
			}
			if got := largeAllocs() - before; got > h.DecodeBytes {
				t.Fatalf("Process allocated %d bytes in large objects, the header promised at most %d (%+v)", got, h.DecodeBytes, h)
			}
		})
	}
}
