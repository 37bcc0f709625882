package briefing

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Attachment is a file attached to a message.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// Message is one e-mail: a UTF-8 plain-text body and attachments.
type Message struct {
	From        string
	To          []string
	Subject     string
	Body        string
	Attachments []Attachment
	Date        time.Time
}

// Bytes renders the message as RFC 5322 with MIME: multipart/mixed of a quoted-printable text part
// and base64 attachments; the subject and names are RFC 2047 encoded.
func (m Message) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("message id: %w", err)
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("from %q: %w", m.From, err)
	}
	to := make([]string, len(m.To))
	for i, r := range m.To {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return nil, fmt.Errorf("to %q: %w", r, err)
		}
		to[i] = a.String()
	}
	domain := "ioc.local"
	if i := strings.LastIndex(from.Address, "@"); i >= 0 {
		domain = from.Address[i+1:]
	}
	hdr := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=%q\r\n\r\n", from.String(), strings.Join(to, ", "), mime.QEncoding.Encode("utf-8", m.Subject),
		m.Date.Format(time.RFC1123Z), hex.EncodeToString(id), domain, mw.Boundary())
	var out bytes.Buffer
	out.WriteString(hdr)
	text, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"}})
	if err != nil {
		return nil, fmt.Errorf("message body: %w", err)
	}
	qp := quotedprintable.NewWriter(text)
	if _, err := qp.Write([]byte(m.Body)); err != nil {
		return nil, fmt.Errorf("message body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("message body: %w", err)
	}
	for _, a := range m.Attachments {
		name := mime.QEncoding.Encode("utf-8", a.Name)
		part, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {a.ContentType + `; name="` + name + `"`},
			"Content-Transfer-Encoding": {"base64"}, "Content-Disposition": {`attachment; filename="` + name + `"`}})
		if err != nil {
			return nil, fmt.Errorf("attachment %s: %w", a.Name, err)
		}
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 {
			if _, err := part.Write([]byte(enc[:76] + "\r\n")); err != nil {
				return nil, fmt.Errorf("attachment %s: %w", a.Name, err)
			}
			enc = enc[76:]
		}
		if _, err := part.Write([]byte(enc + "\r\n")); err != nil {
			return nil, fmt.Errorf("attachment %s: %w", a.Name, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	out.Write(buf.Bytes())
	return out.Bytes(), nil
}

// Sender delivers one message. Send returns an error the caller may retry; it must honour ctx.
type Sender interface {
	Send(ctx context.Context, m Message) error
	Via() string
}

// SMTPSender sends through an SMTP server with STARTTLS (required unless tls: none) and PLAIN
// authentication when a username is set.
type SMTPSender struct {
	cfg  SMTP
	tlsc *tls.Config
}

// NewSMTPSender builds the sender; it reads the CA file when one is set.
func NewSMTPSender(c SMTP) (*SMTPSender, error) {
	tc := &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("briefings.smtp.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("briefings.smtp.ca_file: no certificate in %s", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return &SMTPSender{cfg: c, tlsc: tc}, nil
}

// Via is "smtp".
func (s *SMTPSender) Via() string { return "smtp" }

// Send delivers m; the whole exchange is bounded by the configured timeout and ctx.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	raw, err := m.Bytes()
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	d := net.Dialer{Timeout: s.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", addr, err)
	}
	deadline := time.Now().Add(s.cfg.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	// The client sets its own per-command deadlines (5 and 12 minutes); the capped connection keeps
	// every one of them within ours.
	conn = &cappedConn{Conn: conn, limit: deadline}
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var c *smtp.Client
	if s.cfg.TLS == "none" {
		c = smtp.NewClient(conn)
	} else if c, err = smtp.NewClientStartTLS(conn, s.tlsc); err != nil {
		conn.Close()
		return fmt.Errorf("smtp starttls %s: %w", addr, err)
	}
	defer c.Close()
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return fmt.Errorf("smtp from: %w", err)
	}
	rcpts := make([]string, len(m.To))
	for i, r := range m.To {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return fmt.Errorf("smtp to: %w", err)
		}
		rcpts[i] = a.Address
	}
	if err := c.SendMail(from.Address, rcpts, bytes.NewReader(raw)); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	if err := c.Quit(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("smtp quit: %w", err)
	}
	return nil
}

// cappedConn is a connection whose deadlines are never later than limit.
type cappedConn struct {
	net.Conn
	limit time.Time
}

func (c *cappedConn) capped(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *cappedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.capped(t)) }
func (c *cappedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.capped(t)) }
func (c *cappedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.capped(t)) }

// Outbox writes each message as an .eml file into a directory (for a closed network without a
// mail server, and the demo).
type Outbox struct{ Dir string }

// Via is "outbox".
func (o Outbox) Via() string { return "outbox" }

// Send writes m to Dir/<time>-<random>.eml (through a temporary file, so a reader never sees half).
func (o Outbox) Send(_ context.Context, m Message) error {
	raw, err := m.Bytes()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	name := filepath.Join(o.Dir, m.Date.UTC().Format("20060102T150405Z")+"-"+hex.EncodeToString(id)+".eml")
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o640); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}
