package camera

import (
	"context"
	"log/slog"
	"time"
)

// Reconnect runs session again and again until ctx ends, waiting between runs with exponential
// backoff from lo to hi; a session that reports it was productive resets the backoff. Every restart
// is counted on m.Reconnects and logged with the session's error.
func Reconnect(ctx context.Context, log *slog.Logger, m *Metrics, lo, hi time.Duration, session func(context.Context) (productive bool, err error)) {
	backoff := lo
	for {
		productive, err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		m.Reconnects.Inc()
		if productive {
			backoff = lo
		}
		log.Warn("session ended; reconnecting", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, hi)
	}
}
