package photo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// exifJPEG builds a 40×20 JPEG (left half red, right half blue) with an APP1 Exif segment holding
// Orientation = o, a Make tag "SECRETCAM" and a GPS IFD with a latitude reference.
func exifJPEG(t *testing.T, o uint16) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for y := range 20 {
		for x := range 40 {
			c := color.RGBA{220, 20, 20, 255}
			if x >= 20 {
				c = color.RGBA{20, 20, 220, 255}
			}
			img.Set(x, y, c)
		}
	}
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	// TIFF, little endian: header, IFD0 with 3 entries, GPS IFD with 1 entry, then the Make string.
	le := binary.LittleEndian
	var tiff []byte
	tiff = append(tiff, 'I', 'I', 42, 0)
	tiff = le.AppendUint32(tiff, 8)
	entry := func(tag, typ uint16, count, value uint32) {
		tiff = le.AppendUint16(tiff, tag)
		tiff = le.AppendUint16(tiff, typ)
		tiff = le.AppendUint32(tiff, count)
		tiff = le.AppendUint32(tiff, value)
	}
	ifd0 := 8
	gpsIFD := ifd0 + 2 + 3*12 + 4
	makeOff := gpsIFD + 2 + 12 + 4
	tiff = le.AppendUint16(tiff, 3)
	entry(0x010F, 2, 10, uint32(makeOff)) // Make, ASCII
	entry(0x0112, 3, 1, uint32(o))        // Orientation, SHORT (value in the low bytes)
	entry(0x8825, 4, 1, uint32(gpsIFD))   // GPSInfo IFD pointer
	tiff = le.AppendUint32(tiff, 0)
	tiff = le.AppendUint16(tiff, 1)
	entry(0x0001, 2, 2, uint32('N')) // GPSLatitudeRef "N"
	tiff = le.AppendUint32(tiff, 0)
	tiff = append(tiff, "SECRETCAM\x00"...)
	app1 := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(app1)+2))
	seg = append(seg, app1...)
	b := plain.Bytes()
	return append(append(append([]byte{}, b[:2]...), seg...), b[2:]...)
}

func TestProcess(t *testing.T) {
	lim := DefaultLimits()
	for _, tc := range []struct {
		name        string
		orientation uint16
		w, h        int
		topIsRed    bool // the top-left pixel after orientation
	}{
		{"upright", 1, 40, 20, true},
		{"rotate 90 cw", 6, 20, 40, true},
		{"rotate 180", 3, 40, 20, false},
		{"rotate 90 ccw", 8, 20, 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := exifJPEG(t, tc.orientation)
			if Orientation(in) != int(tc.orientation) {
				t.Fatalf("read orientation %d, want %d", Orientation(in), tc.orientation)
			}
			if !bytes.Contains(in, []byte("SECRETCAM")) {
				t.Fatal("fixture lacks its EXIF")
			}
			full, thumb, err := Process(in, lim)
			if err != nil {
				t.Fatal(err)
			}
			for _, out := range [][]byte{full, thumb} {
				for _, leak := range []string{"Exif", "SECRETCAM", "II*"} {
					if bytes.Contains(out, []byte(leak)) {
						t.Fatalf("output still contains %q", leak)
					}
				}
				if Orientation(out) != 1 {
					t.Fatal("output has an orientation tag")
				}
			}
			img, err := jpeg.Decode(bytes.NewReader(full))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Fatalf("size %v, want %d×%d", b, tc.w, tc.h)
			}
			r, _, bl, _ := img.At(1, 1).RGBA()
			if (r > bl) != tc.topIsRed {
				t.Fatalf("top-left pixel red=%v, want %v", r > bl, tc.topIsRed)
			}
		})
	}
}

func TestProcessRejects(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxBytes = 1000
	big := exifJPEG(t, 1)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"too large", append(big, make([]byte, 1000)...), ErrTooLarge},
		{"text named jpg", []byte("<html><body>not a photo</body></html>"), ErrUnsupported},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), ErrUnsupported},
		{"truncated jpeg", big[:300], ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Process(tc.data, lim); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStore(t *testing.T) {
	s := &Store{Blobs: &Disk{Dir: t.TempDir()}, Limits: DefaultLimits()}
	id, err := s.Save(t.Context(), exifJPEG(t, 6))
	if err != nil {
		t.Fatal(err)
	}
	for _, thumb := range []bool{false, true} {
		b, err := s.Load(t.Context(), id, thumb)
		if err != nil || http0(b) != "image/jpeg" {
			t.Fatalf("load thumb=%v: %v", thumb, err)
		}
	}
	for _, bad := range []string{"../etc/passwd", "nothex", id[:10]} {
		if _, err := s.Load(t.Context(), bad, false); !errors.Is(err, ErrNotFound) {
			t.Fatalf("load %q: %v", bad, err)
		}
	}
}

func http0(b []byte) string {
	ct, err := Sniff(b)
	if err != nil {
		return ""
	}
	return ct
}
