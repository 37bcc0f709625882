package hikvision

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// challenge is a parsed WWW-Authenticate: Digest header (RFC 7616 section 3.3).
type challenge struct {
	realm, nonce, opaque, algorithm string
	qops                            []string
}

// parseChallenge reads a Digest challenge; ok is false for other schemes.
func parseChallenge(h string) (challenge, bool) {
	rest, ok := cutPrefixFold(strings.TrimSpace(h), "Digest ")
	if !ok {
		return challenge{}, false
	}
	var c challenge
	for k, v := range authParams(rest) {
		switch strings.ToLower(k) {
		case "realm":
			c.realm = v
		case "nonce":
			c.nonce = v
		case "opaque":
			c.opaque = v
		case "algorithm":
			c.algorithm = v
		case "qop":
			for _, q := range strings.Split(v, ",") {
				c.qops = append(c.qops, strings.TrimSpace(q))
			}
		}
	}
	return c, c.nonce != ""
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// authParams splits `k=v, k="quoted \" value"` pairs.
func authParams(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		s = strings.TrimLeft(s, " ,\t")
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		key := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val strings.Builder
		if strings.HasPrefix(s, `"`) {
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			s = s[min(i+1, len(s)):]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val.WriteString(strings.TrimSpace(s[:end]))
			s = s[end:]
		}
		out[key] = val.String()
	}
	return out
}

// digestAuthorization computes the Authorization header answering c for one request (RFC 7616
// section 3.4, qop=auth or the RFC 2069 form when the server offers no qop). nc is the nonce count.
// userhash and auth-int are not supported.
func digestAuthorization(c challenge, user, pass, method, uri, cnonce string, nc int) (string, error) {
	alg := c.algorithm
	if alg == "" {
		alg = "MD5"
	}
	var newHash func() hash.Hash
	switch strings.ToUpper(strings.TrimSuffix(strings.ToUpper(alg), "-SESS")) {
	case "MD5":
		newHash = md5.New
	case "SHA-256":
		newHash = sha256.New
	default:
		return "", fmt.Errorf("digest: unsupported algorithm %q", alg)
	}
	h := func(s string) string {
		x := newHash()
		x.Write([]byte(s))
		return hex.EncodeToString(x.Sum(nil))
	}
	ha1 := h(user + ":" + c.realm + ":" + pass)
	if strings.HasSuffix(strings.ToUpper(alg), "-SESS") {
		ha1 = h(ha1 + ":" + c.nonce + ":" + cnonce)
	}
	ha2 := h(method + ":" + uri)
	qop := ""
	for _, q := range c.qops {
		if q == "auth" {
			qop = "auth"
		}
	}
	if len(c.qops) > 0 && qop == "" {
		return "", fmt.Errorf("digest: server offers qop %v, only auth is supported", c.qops)
	}
	ncs := fmt.Sprintf("%08x", nc)
	var resp string
	if qop == "" {
		resp = h(ha1 + ":" + c.nonce + ":" + ha2)
	} else {
		resp = h(ha1 + ":" + c.nonce + ":" + ncs + ":" + cnonce + ":" + qop + ":" + ha2)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%q, realm=%q, uri=%q, algorithm=%s, nonce=%q, response=%q`, user, c.realm, uri, alg, c.nonce, resp)
	if qop != "" {
		fmt.Fprintf(&b, `, qop=%s, nc=%s, cnonce=%q`, qop, ncs, cnonce)
	}
	if c.opaque != "" {
		fmt.Fprintf(&b, `, opaque=%q`, c.opaque)
	}
	return b.String(), nil
}

// newCnonce returns a fresh client nonce.
func newCnonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
