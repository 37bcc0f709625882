package briefing_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ioc-vn/ioc/internal/briefing"
	"github.com/ioc-vn/ioc/internal/tlstest"
)

// mailServer is a real SMTP server (go-smtp) on a loopback port requiring STARTTLS and PLAIN
// authentication; it refuses the first refuse messages with a temporary error.
type mailServer struct {
	addr  string
	files tlstest.Files

	mu       sync.Mutex
	refuse   int
	tries    int
	received []received
}

type received struct {
	user, from string
	to         []string
	data       []byte
	tls        bool
}

func startMailServer(t *testing.T, refuse int) *mailServer {
	t.Helper()
	ms := &mailServer{refuse: refuse, files: tlstest.Write(t, t.TempDir())}
	cert, err := tls.LoadX509KeyPair(ms.files.ServerCert, ms.files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{ms: ms, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns when closed
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ms
}

func (ms *mailServer) port(t *testing.T) int {
	_, p, err := net.SplitHostPort(ms.addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type session struct {
	ms   *mailServer
	conn *smtp.Conn
	cur  received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "ioc" || pass != "mật-khẩu-thử" {
			return errors.New("bad credentials")
		}
		s.cur.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.cur.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	_, s.cur.tls = s.conn.TLSConnectionState()
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	defer s.ms.mu.Unlock()
	s.ms.tries++
	if s.ms.tries <= s.ms.refuse {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "thử lại sau / try again later"}
	}
	s.cur.data = data
	s.ms.received = append(s.ms.received, s.cur)
	return nil
}

func (s *session) Reset()        { s.cur = received{user: s.cur.user} }
func (s *session) Logout() error { return nil }

func (ms *mailServer) got() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.received...)
}

func smtpConfig(t *testing.T, ms *mailServer) briefing.SMTP {
	c := briefing.Defaults().SMTP
	c.Host, c.Port, c.CAFile = "127.0.0.1", ms.port(t), ms.files.CA
	c.Username, c.Password, c.From = "ioc", "mật-khẩu-thử", "IOC Bến Tre <ioc@bentre.gov.vn>"
	return c
}

// A produced report reaches a real SMTP server over STARTTLS with authentication, as a
// multipart/mixed message of the text and the PDF and XLSX attachments, after two temporary
// refusals retried with doubling backoff.
func TestDeliveryOverSMTP(t *testing.T) {
	ms := startMailServer(t, 2)
	f := newFixture(t, func(c *briefing.Config) {
		c.SMTP = smtpConfig(t, ms)
		c.Attempts = 3
		c.Schedules[0].PerArea = map[string][]string{"83": {"vanphong@bentre.gov.vn"}}
	}, true)
	f.run(t)
	rs, err := f.svc.Produce(context.Background(), "province-daily")
	if err != nil {
		t.Fatal(err)
	}
	d := f.waitStatus(t, rs[0].ID, "sent")
	if d.Attempts != 3 || d.Via != "smtp" {
		t.Errorf("delivery %+v, want sent on the 3rd try over smtp", d)
	}
	if w1, w2 := <-f.waits, <-f.waits; w1 != f.cfg.Backoff || w2 != 2*f.cfg.Backoff {
		t.Errorf("backoff waits %v, %v; want %v then %v", w1, w2, f.cfg.Backoff, 2*f.cfg.Backoff)
	}
	if n := testutil.ToFloat64(f.svc.Metrics().Retries); n != 2 {
		t.Errorf("retries counted %v, want 2", n)
	}
	got := ms.got()
	if len(got) != 1 {
		t.Fatalf("%d messages received", len(got))
	}
	m := got[0]
	if !m.tls || m.user != "ioc" || m.from != "ioc@bentre.gov.vn" || strings.Join(m.to, ",") != "chutich@bentre.gov.vn,vanphong@bentre.gov.vn" {
		t.Fatalf("envelope: tls=%v user=%q from=%q to=%v", m.tls, m.user, m.from, m.to)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "BÁO CÁO NGÀY — Tỉnh Bến Tre — 2026-03-10" {
		t.Errorf("subject %q (%v)", subject, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", mt, err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		raw, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		switch p.Header.Get("Content-Transfer-Encoding") {
		case "base64":
			body, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
		case "quoted-printable":
			body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
		}
		if err != nil {
			t.Fatalf("part %s: %v", ct, err)
		}
		_, disp, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		parts = append(parts, ct+" "+disp["filename"])
		switch ct {
		case "text/plain":
			if !strings.Contains(string(body), "Tỉ lệ phản ánh xử lý đúng hạn: 50,0 % (Không đạt / off track)") {
				t.Errorf("text part:\n%s", body)
			}
		case "application/pdf":
			if !bytes.HasPrefix(body, []byte("%PDF-")) {
				t.Errorf("pdf attachment starts %q", body[:min(8, len(body))])
			}
		default:
			if !bytes.HasPrefix(body, []byte("PK")) {
				t.Errorf("xlsx attachment is not a zip")
			}
		}
	}
	want := []string{"text/plain ", "application/pdf bao-cao-83-2026-03-10.pdf",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet bao-cao-83-2026-03-10.xlsx"}
	if strings.Join(parts, "|") != strings.Join(want, "|") {
		t.Errorf("parts %q, want %q", parts, want)
	}
}

// A server that keeps refusing: the delivery is given up after the last try, counted and marked
// failed in the archive; producing the report did not wait for it.
func TestDeliveryGivenUp(t *testing.T) {
	ms := startMailServer(t, 1000)
	f := newFixture(t, func(c *briefing.Config) {
		c.SMTP = smtpConfig(t, ms)
		c.Attempts = 2
	}, true)
	rs, err := f.svc.Produce(context.Background(), "province-daily") // before the worker runs: only queued
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Delivery[0].Status != "queued" {
		t.Fatalf("delivery %+v, want queued", rs[0].Delivery)
	}
	f.run(t)
	d := f.waitStatus(t, rs[0].ID, "failed")
	if d.Attempts != 2 || !strings.Contains(d.Error, "451") {
		t.Errorf("delivery %+v", d)
	}
	if n := testutil.ToFloat64(f.svc.Metrics().Delivered.WithLabelValues("failed")); n != 1 {
		t.Errorf("failed deliveries counted %v, want 1", n)
	}
}

// Wrong credentials are an error of the send, not a silent success.
func TestSMTPAuthRefused(t *testing.T) {
	ms := startMailServer(t, 0)
	c := smtpConfig(t, ms)
	c.Password = "sai"
	s, err := briefing.NewSMTPSender(c)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), briefing.Message{From: c.From, To: []string{"a@b.vn"}, Subject: "x", Body: "y"})
	if err == nil || !strings.Contains(err.Error(), "smtp auth") {
		t.Fatalf("send with a wrong password: %v", err)
	}
	if len(ms.got()) != 0 {
		t.Fatal("message accepted")
	}
}

// A server that accepts the connection and never greets: the send gives up after the timeout.
func TestSMTPTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c := briefing.Defaults().SMTP
	c.Host, c.From, c.Timeout = "127.0.0.1", "ioc@bentre.gov.vn", time.Second
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	c.Port, _ = strconv.Atoi(p)
	s, err := briefing.NewSMTPSender(c)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), briefing.Message{From: c.From, To: []string{"a@b.vn"}, Subject: "x", Body: "y"})
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("send to a silent server: %v, want a timeout", err)
	}
	(<-accepted).Close()
}

// A full delivery queue drops the delivery, counts it and says so in the archive; producing never
// waits for delivery.
func TestDeliveryQueueFull(t *testing.T) {
	f := newFixture(t, func(c *briefing.Config) { c.Queue = 1 }, false) // no worker running
	for range 2 {
		if _, err := f.svc.Produce(context.Background(), "province-daily"); err != nil {
			t.Fatal(err)
		}
		f.world.Now = f.world.Now.Add(time.Second) // a new report id
	}
	list, err := f.svc.Archive(10)
	if err != nil || len(list) != 2 {
		t.Fatalf("archive %v %v", list, err)
	}
	if list[0].Delivery[0].Status != "dropped" || list[1].Delivery[0].Status != "queued" {
		t.Fatalf("deliveries: newest %+v, oldest %+v", list[0].Delivery, list[1].Delivery)
	}
	if n := testutil.ToFloat64(f.svc.Metrics().Delivered.WithLabelValues("dropped")); n != 1 {
		t.Fatalf("dropped counted %v", n)
	}
}
