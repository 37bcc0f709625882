package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/paulmach/orb"

	"github.com/ioc-vn/ioc/internal/httpapi"
	"github.com/ioc-vn/ioc/internal/report/photo"
)

const maxFieldBytes = 64 << 10

// form is a parsed submission body: text fields and the raw bytes of uploaded files.
type form struct {
	values url.Values
	files  [][]byte
}

// readForm reads a application/x-www-form-urlencoded or multipart/form-data body. Files (parts with
// a file name) are kept in memory, each at most maxFile bytes (photo.ErrTooLarge beyond), at most
// maxFiles of them. The caller has wrapped the body in http.MaxBytesReader.
func readForm(r *http.Request, maxFiles int, maxFile int64) (*form, error) {
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "thiếu Content-Type / a form Content-Type is required")
	}
	switch ct {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("%w: form: %w", ErrInvalid, err)
		}
		return &form{values: r.PostForm}, nil
	case "multipart/form-data":
		if params["boundary"] == "" {
			return nil, fmt.Errorf("%w: multipart body without boundary", ErrInvalid)
		}
	default:
		return nil, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"cần form / expected application/x-www-form-urlencoded or multipart/form-data, got %q", ct)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("%w: multipart: %w", ErrInvalid, err)
	}
	f := &form{values: url.Values{}}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: multipart: %w", ErrInvalid, err)
		}
		limit := int64(maxFieldBytes)
		if p.FileName() != "" {
			if len(f.files) >= maxFiles {
				return nil, fmt.Errorf("%w: at most %d photos", ErrInvalid, maxFiles)
			}
			limit = maxFile
		}
		b, err := io.ReadAll(io.LimitReader(p, limit+1))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: multipart: %w", ErrInvalid, err)
		}
		if int64(len(b)) > limit {
			if p.FileName() != "" {
				return nil, fmt.Errorf("%w: %s larger than %d bytes", photo.ErrTooLarge, p.FileName(), maxFile)
			}
			return nil, fmt.Errorf("%w: field %s longer than %d bytes", ErrInvalid, p.FormName(), limit)
		}
		if p.FileName() != "" {
			f.files = append(f.files, b)
		} else {
			f.values.Add(p.FormName(), string(b))
		}
	}
}

// attributes collects attribute[code] fields.
func attributes(v url.Values) map[string][]string {
	out := map[string][]string{}
	for k, vals := range v {
		if code, ok := strings.CutPrefix(k, "attribute["); ok && strings.HasSuffix(code, "]") {
			code = strings.TrimSuffix(code, "]")
			code = strings.TrimSuffix(code, "][") // attribute[code][] for multi-value lists
			if strings.ContainsAny(code, "[]") {
				continue // a malformed name (attribute[attribute[0]) names no attribute
			}
			out[code] = append(out[code], vals...)
		}
	}
	return out
}

// point parses lon and lat strings into [lon, lat].
func point(lon, lat string) (orb.Point, error) {
	x, err1 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
	y, err2 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
	if err1 != nil || err2 != nil {
		return orb.Point{}, fmt.Errorf("%w: lat and long must be decimal degrees", ErrInvalid)
	}
	return orb.Point{x, y}, nil
}

// savePhotos processes and stores the uploaded files, returning their IDs. Each photo's header is
// read first (photo.Inspect): what would take too much memory is refused without decoding, the rest
// decodes one at a time through the decode pool. Every refusal is counted with its reason.
func (s *Service) savePhotos(ctx context.Context, files [][]byte) ([]string, error) {
	ids := make([]string, 0, len(files))
	var held, peak int64
	defer func() {
		if len(files) > 0 {
			s.m.requestBytes.Observe(float64(held + peak))
		}
	}()
	for _, b := range files {
		held += int64(len(b))
		id, cost, err := s.savePhoto(ctx, b)
		peak = max(peak, cost)
		if err != nil {
			if r := photo.Reason(err); r != "" {
				s.m.photoRefused.WithLabelValues(r).Inc()
			} else if errors.Is(err, ErrBusy) {
				s.m.photoRefused.WithLabelValues("busy").Inc()
			}
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (s *Service) savePhoto(ctx context.Context, b []byte) (id string, cost int64, err error) {
	h, err := photo.Inspect(b, s.d.Photos.Limits)
	if err != nil {
		return "", 0, err
	}
	release, err := s.decodes.acquire(ctx, h.DecodeBytes)
	if err != nil {
		return "", 0, err
	}
	defer release()
	s.m.decodeBytes.Observe(float64(h.DecodeBytes))
	id, err = s.d.Photos.Save(ctx, b)
	return id, h.DecodeBytes, err
}
