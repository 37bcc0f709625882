// Package photo cleans citizen photos before they are kept: the type is sniffed from the content
// (never the file name), the image is decoded, turned upright by its EXIF orientation and re-encoded,
// which drops every metadata segment (EXIF GPS, device make and serial). A thumbnail is made with
// golang.org/x/image/draw. The results live in Blobs, by an opaque random ID.
package photo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // registers the PNG decoder for image.Decode
	"net/http"
	"regexp"

	"golang.org/x/image/draw"
)

// Errors callers map to HTTP statuses.
var (
	ErrTooLarge    = errors.New("photo too large")         // 413
	ErrUnsupported = errors.New("unsupported photo type")  // 415
	ErrCorrupt     = errors.New("photo cannot be decoded") // 400
	ErrNotFound    = errors.New("photo not found")         // 404
)

// Limits bound what Process accepts and produces.
type Limits struct {
	MaxBytes  int64 // largest accepted upload
	MaxPixels int   // largest accepted width × height (decompression bombs)
	// MaxDecodeBytes bounds the memory one photo may take to decode and process (Header.DecodeBytes):
	// a photo whose header promises more is refused before decoding.
	MaxDecodeBytes int64
	MaxSide        int // the stored copy is scaled down to fit this many pixels per side
	ThumbSide      int // the thumbnail fits this many pixels per side
	Quality        int // JPEG quality of stored copies
}

// DefaultLimits returns the limits used when none are configured: a 48-megapixel phone JPEG
// (8000×6000, 4:2:0, ~170 MiB to process) passes; a 7000×7000 16-bit PNG (~440 MiB) does not.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 8 << 20, MaxPixels: 50_000_000, MaxDecodeBytes: 256 << 20, MaxSide: 2560, ThumbSide: 320, Quality: 85}
}

// Sniff returns the photo's MIME type judged from its first bytes, or ErrUnsupported.
func Sniff(data []byte) (string, error) {
	switch ct := http.DetectContentType(data); ct {
	case "image/jpeg", "image/png":
		return ct, nil
	default:
		return "", fmt.Errorf("%w: content is %s (JPEG or PNG expected)", ErrUnsupported, ct)
	}
}

// Process checks (Inspect), decodes, scales, orients and re-encodes one photo, returning the clean
// JPEG and its thumbnail. Neither output carries any of the input's metadata. It takes at most the
// header's DecodeBytes of memory: the image is scaled down before it is turned upright.
func Process(data []byte, lim Limits) (full, thumb []byte, err error) {
	h, err := Inspect(data, lim)
	if err != nil {
		return nil, nil, err
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, nil, refuse("corrupt", ErrCorrupt, "%v", err)
	}
	o := 1
	if h.Type == "image/jpeg" {
		o = Orientation(data)
	}
	big := Orient(fit(img, lim.MaxSide), o) // from here the decoded bitmap is garbage
	full, err = encode(big, lim.Quality)
	if err != nil {
		return nil, nil, err
	}
	thumb, err = encode(fit(big, lim.ThumbSide), lim.Quality)
	if err != nil {
		return nil, nil, err
	}
	return full, thumb, nil
}

func encode(img image.Image, quality int) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("encode jpeg: %w", err)
	}
	return buf.Bytes(), nil
}

// fit scales img down to fit side×side, keeping its aspect ratio; smaller images are copied as is.
func fit(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := fitSize(b.Dx(), b.Dy(), side)
	if w == b.Dx() && h == b.Dy() {
		return img
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	var s draw.Scaler = draw.ApproxBiLinear
	if scaleTmp(w, b.Dy()) > 0 {
		s = draw.BiLinear
	}
	s.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// kernelTmpMax bounds the temporary buffer of draw.BiLinear (a kernel scaler: 32 bytes per
// destination column and source row, 491 MiB to fit an 8000×6000 photo into 2560 pixels). Beyond
// it fit uses ApproxBiLinear, which needs none and is coarser.
const kernelTmpMax = 32 << 20

// scaleTmp is the temporary buffer fit takes to scale a source sh rows high to dw columns, 0 when
// it scales without one.
func scaleTmp(dw, sh int) int64 {
	if t := int64(dw) * int64(sh) * 32; t <= kernelTmpMax {
		return t
	}
	return 0
}

// Blobs stores opaque byte objects by key. A disk directory implements it; an S3-compatible object
// store can too. Put must return only once the object is durable; Get returns ErrNotFound for an
// unknown key. Implementations are safe for concurrent use.
type Blobs interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// Store processes photos and keeps them in Blobs.
type Store struct {
	Blobs  Blobs
	Limits Limits
}

var idRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Save processes one upload and stores the clean copy and thumbnail under a new random ID.
func (s *Store) Save(ctx context.Context, data []byte) (string, error) {
	full, thumb, err := Process(data, s.Limits)
	if err != nil {
		return "", err
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	id := hex.EncodeToString(b[:])
	if err := s.Blobs.Put(ctx, id+".jpg", full); err != nil {
		return "", fmt.Errorf("store photo: %w", err)
	}
	if err := s.Blobs.Put(ctx, id+"_thumb.jpg", thumb); err != nil {
		return "", fmt.Errorf("store thumbnail: %w", err)
	}
	return id, nil
}

// Load returns a stored photo (thumb: its thumbnail) as JPEG bytes.
func (s *Store) Load(ctx context.Context, id string, thumb bool) ([]byte, error) {
	if !idRE.MatchString(id) {
		return nil, ErrNotFound
	}
	key := id + ".jpg"
	if thumb {
		key = id + "_thumb.jpg"
	}
	return s.Blobs.Get(ctx, key)
}
