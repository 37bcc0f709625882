package photo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
)

// Refusal is a photo Process will not decode, with the reason it is counted under (bytes, pixels,
// memory, scans, media_type, corrupt). It wraps the sentinel (ErrTooLarge, ErrUnsupported, ErrCorrupt)
// that picks the HTTP status.
type Refusal struct {
	Reason string
	err    error
}

func (e *Refusal) Error() string { return e.err.Error() }
func (e *Refusal) Unwrap() error { return e.err }

func refuse(reason string, sentinel error, format string, args ...any) error {
	return &Refusal{Reason: reason, err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}

// Reason is the refusal reason of err, "" when err is no Refusal.
func Reason(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}

// Header is what a photo's header says about the cost of decoding it, read before any pixel is.
type Header struct {
	Type          string // image/jpeg or image/png
	Width, Height int
	BitDepth      int  // bits per sample: PNG 1, 2, 4, 8 or 16; JPEG 8
	Interlaced    bool // PNG Adam7 or progressive JPEG: the decoder holds a second copy
	// DecodeBytes bounds the memory Process takes for this photo: the decoded bitmap (with the
	// decoder's working copy for interlaced and progressive images), the scaled copy, its upright
	// turn, the thumbnail and the encoder's output.
	DecodeBytes int64
}

// Inspect reads the photo's header (image.DecodeConfig, the PNG IHDR chunk, the JPEG SOF segment)
// and refuses, without decoding, what exceeds lim: more bytes, more pixels or a larger decode than
// lim.MaxDecodeBytes (a 16-bit or interlaced PNG needs twice or four times the memory of a plain one).
func Inspect(data []byte, lim Limits) (Header, error) {
	if int64(len(data)) > lim.MaxBytes {
		return Header{}, refuse("bytes", ErrTooLarge, "%d bytes, limit %d", len(data), lim.MaxBytes)
	}
	ct, err := Sniff(data)
	if err != nil {
		return Header{}, &Refusal{Reason: "media_type", err: err}
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Header{}, refuse("corrupt", ErrCorrupt, "%v", err)
	}
	h := Header{Type: ct, Width: cfg.Width, Height: cfg.Height}
	if h.Width < 1 || h.Height < 1 {
		return Header{}, refuse("corrupt", ErrCorrupt, "%d×%d pixels", h.Width, h.Height)
	}
	if px := int64(h.Width) * int64(h.Height); px > int64(lim.MaxPixels) {
		return Header{}, refuse("pixels", ErrTooLarge, "%d×%d pixels, limit %d", h.Width, h.Height, lim.MaxPixels)
	}
	var bitmap int64 // bytes of the decoded image and the decoder's working state
	if ct == "image/png" {
		bitmap, err = pngCost(data, &h)
	} else {
		bitmap, err = jpegCost(data, &h)
	}
	if Reason(err) != "" {
		return Header{}, err
	}
	if err != nil {
		return Header{}, refuse("corrupt", ErrCorrupt, "%v", err)
	}
	sw, sh := fitSize(h.Width, h.Height, lim.MaxSide)
	tw, th := fitSize(h.Width, h.Height, lim.ThumbSide)
	scaled := int64(sw) * int64(sh)
	// The scaled RGBA copy and the scaler's buffer, its upright turn, the encoder's output (at most
	// one byte per pixel), the thumbnail and its scaler's buffer, and the codecs' tables.
	h.DecodeBytes = bitmap + 4*scaled + scaleTmp(sw, h.Height) + 4*scaled + scaled +
		4*int64(tw)*int64(th) + scaleTmp(tw, max(sw, sh)) + codecOverhead
	if h.DecodeBytes > lim.MaxDecodeBytes {
		kind := ""
		if h.Interlaced {
			kind = ", interlaced"
		}
		return Header{}, refuse("memory", ErrTooLarge, "%d×%d pixels at %d bits%s need %d MiB to decode, limit %d MiB",
			h.Width, h.Height, h.BitDepth, kind, h.DecodeBytes>>20, lim.MaxDecodeBytes>>20)
	}
	return h, nil
}

// maxScans bounds the scans of a progressive JPEG (encoders write about ten).
const maxScans = 64

// codecOverhead covers the decoders' and encoders' own buffers (Huffman tables, zlib windows,
// bufio), whatever the image size.
const codecOverhead = 1 << 20

// pngCost reads the IHDR chunk and returns the bytes image/png allocates: the bitmap in the Go
// image type the colour type decodes to, twice for Adam7 (each pass is decoded into its own image
// before being merged).
func pngCost(data []byte, h *Header) (int64, error) {
	// signature (8), chunk length (4), "IHDR" (4), width (4), height (4), depth, colour type,
	// compression, filter, interlace.
	if len(data) < 8+8+13 || string(data[12:16]) != "IHDR" {
		return 0, errors.New("png: no IHDR chunk")
	}
	ihdr := data[16:]
	depth, colour, interlace := int(ihdr[8]), ihdr[9], ihdr[12]
	h.BitDepth, h.Interlaced = depth, interlace == 1
	var perPixel int64
	switch colour {
	case 0: // grey: Gray or Gray16
		perPixel = 1
		if depth == 16 {
			perPixel = 2
		}
	case 3: // palette: Paletted
		perPixel = 1
	case 2, 4, 6: // RGB, grey+alpha, RGBA: RGBA/NRGBA or RGBA64/NRGBA64
		perPixel = 4
		if depth == 16 {
			perPixel = 8
		}
	default:
		return 0, fmt.Errorf("png: colour type %d", colour)
	}
	n := int64(h.Width) * int64(h.Height) * perPixel
	if h.Interlaced {
		n *= 2
	}
	return n, nil
}

// jpegCost reads the SOF segment and returns the bytes image/jpeg allocates: the planes at their
// sampling factors (a CMYK image also as the converted 4-byte copy), and for a progressive JPEG the
// 32-bit coefficients of every sample besides.
func jpegCost(data []byte, h *Header) (int64, error) {
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xFF {
			return 0, errors.New("jpeg: marker expected")
		}
		marker := data[p+1]
		if marker == 0xFF { // fill byte
			p++
			continue
		}
		if marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01 { // no length
			p += 2
			continue
		}
		if marker == 0xDA || marker == 0xD9 {
			return 0, errors.New("jpeg: no frame header before the scan")
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return 0, errors.New("jpeg: segment overruns the file")
		}
		seg := data[p+4 : p+2+n]
		switch marker {
		case 0xC0, 0xC1, 0xC2:
			// Each scan of a progressive JPEG is a pass over the whole image: a file of thousands of
			// tiny scans costs minutes of CPU. Markers cannot occur inside entropy-coded data (0xFF
			// is stuffed there), so counting start-of-scan markers counts the scans.
			if n := bytes.Count(data[p:], []byte{0xFF, 0xDA}); n > maxScans {
				return 0, &Refusal{Reason: "scans", err: fmt.Errorf("%w: %d scans, at most %d", ErrCorrupt, n, maxScans)}
			}
			return sofCost(seg, marker == 0xC2, h)
		case 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
			return 0, fmt.Errorf("jpeg: unsupported frame type %#x", marker)
		}
		p += 2 + n
	}
	return 0, errors.New("jpeg: no frame header")
}

func sofCost(seg []byte, progressive bool, h *Header) (int64, error) {
	if len(seg) < 6 {
		return 0, errors.New("jpeg: short frame header")
	}
	h.BitDepth, h.Interlaced = int(seg[0]), progressive
	nc := int(seg[5])
	if nc < 1 || len(seg) < 6+3*nc {
		return 0, errors.New("jpeg: bad component count")
	}
	hmax, vmax := 1, 1
	for i := range nc {
		s := seg[6+3*i+1]
		hmax, vmax = max(hmax, int(s>>4)), max(vmax, int(s&15))
	}
	// Planes are padded to whole MCUs (8 samples × the largest sampling factor).
	mw := int64((h.Width + 8*hmax - 1) / (8 * hmax) * 8 * hmax)
	mh := int64((h.Height + 8*vmax - 1) / (8 * vmax) * 8 * vmax)
	var samples int64
	for i := range nc {
		s := seg[6+3*i+1]
		hi, vi := max(1, int64(s>>4)), max(1, int64(s&15))
		samples += mw * hi / int64(hmax) * mh * vi / int64(vmax)
	}
	n := samples
	if nc == 4 {
		n += 4 * int64(h.Width) * int64(h.Height)
	}
	if progressive {
		n += 4 * samples
	}
	return n, nil
}

// fitSize is the size fit scales w×h to within side×side.
func fitSize(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, max(1, h*side/w)
	}
	return max(1, w*side/h), side
}
