package reporttest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// BombPNG builds a valid all-black RGB PNG of w×h pixels at depth bits per sample (8 or 16), Adam7
// interlaced when asked, without ever holding its bitmap: the zero rows compress to almost nothing,
// so 7000×7000 at 16 bits is a ~400 KB file that decodes to ~400 MB (a decompression bomb).
func BombPNG(w, h, depth int, interlaced bool) []byte {
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		out.Write(n[:])
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = byte(depth), 2 // RGB
	if interlaced {
		ihdr[12] = 1
	}
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression) // a valid level never fails
	bpp := 3 * depth / 8
	row := make([]byte, 1+w*bpp) // filter type 0 and black samples
	writeRows := func(pw, ph int) {
		if pw == 0 || ph == 0 {
			return
		}
		for range ph {
			_, _ = zw.Write(row[:1+pw*bpp]) // writes to a bytes.Buffer never fail
		}
	}
	if !interlaced {
		writeRows(w, h)
	} else {
		// Adam7 passes: x0, y0, dx, dy.
		for _, p := range [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			writeRows((w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3])
		}
	}
	_ = zw.Close()
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}
