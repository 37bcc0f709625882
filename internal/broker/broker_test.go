package broker

import (
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// With credentials configured, the embedded broker admits clients over loopback (ioc's own) and
// others only with the right user name and password.
func TestCredentialsRequiredBeyondLoopback(t *testing.T) {
	h := &credHook{user: []byte("tram"), pass: []byte("mật-khẩu-broker")}
	for _, tc := range []struct {
		name, remote, user, pass string
		want                     bool
	}{
		{"loopback without credentials", "127.0.0.1:50000", "", "", true},
		{"IPv6 loopback", "[::1]:50000", "", "", true},
		{"remote without credentials", "10.20.0.7:50000", "", "", false},
		{"remote, wrong password", "10.20.0.7:50000", "tram", "sai", false},
		{"remote, wrong user", "10.20.0.7:50000", "khac", "mật-khẩu-broker", false},
		{"remote with credentials", "10.20.0.7:50000", "tram", "mật-khẩu-broker", true},
		{"unparseable address", "pipe", "", "", false},
	} {
		cl := &mqtt.Client{Net: mqtt.ClientConnection{Remote: tc.remote}}
		pk := packets.Packet{Connect: packets.ConnectParams{Username: []byte(tc.user), Password: []byte(tc.pass)}}
		if got := h.OnConnectAuthenticate(cl, pk); got != tc.want {
			t.Errorf("%s: admitted %v, want %v", tc.name, got, tc.want)
		}
	}
	if !h.Provides(mqtt.OnConnectAuthenticate) || !h.Provides(mqtt.OnACLCheck) {
		t.Error("the hook must answer authentication and ACL checks (mochi refuses everything otherwise)")
	}
}
