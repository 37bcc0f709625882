package sqldb_test

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ioc-vn/ioc/internal/alarm"
	"github.com/ioc-vn/ioc/internal/auth"
	"github.com/ioc-vn/ioc/internal/pgtest"
	"github.com/ioc-vn/ioc/internal/report"
	"github.com/ioc-vn/ioc/internal/sqldb"
)

// TestStoresStartTogetherOnAnEmptyPostgres starts three nodes' worth of stores (accounts, alarms,
// reports: every store that migrates PostgreSQL) at the same instant on an empty schema, ten rounds,
// each on a fresh schema. Every open succeeds and each migration is recorded once. Without the
// advisory lock two nodes collided creating the account tables (SQLSTATE 23505,
// pg_type_typname_nsp_index) and one exited.
func TestStoresStartTogetherOnAnEmptyPostgres(t *testing.T) {
	const nodes, rounds = 3, 10
	ctx := context.Background()
	for round := range rounds {
		dsn := pgtest.Schema(t, fmt.Sprintf("start_together_%d", round))
		opens := []struct {
			store string
			open  func() (interface{ Close() error }, error)
		}{
			{"auth", func() (interface{ Close() error }, error) {
				return auth.OpenStore(ctx, auth.StoreConfig{Driver: sqldb.Postgres, DSN: dsn})
			}},
			{"alarm", func() (interface{ Close() error }, error) { return alarm.OpenPostgres(ctx, dsn) }},
			{"report", func() (interface{ Close() error }, error) {
				return report.OpenStore(ctx, report.StoreConfig{Driver: sqldb.Postgres, DSN: dsn})
			}},
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, nodes*len(opens))
		for node := range nodes {
			for _, o := range opens {
				wg.Go(func() {
					<-start
					st, err := o.open()
					if err != nil {
						errs <- fmt.Errorf("round %d, node %d, %s store: %w", round+1, node+1, o.store, err)
						return
					}
					if err := st.Close(); err != nil {
						errs <- fmt.Errorf("round %d, node %d, close %s store: %w", round+1, node+1, o.store, err)
					}
				})
			}
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		db, _, err := sqldb.Open(sqldb.Config{Driver: sqldb.Postgres, DSN: dsn}, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`SELECT count(*) - count(DISTINCT version) FROM report_migrations`,
			`SELECT count(*) - count(DISTINCT version) FROM alarm_schema_migrations`} {
			var dup int
			if err := db.QueryRowContext(ctx, q).Scan(&dup); err != nil || dup != 0 {
				t.Errorf("round %d: %s = %d, %v; want every migration recorded once", round+1, q, dup, err)
			}
		}
		db.Close()
		if t.Failed() {
			return
		}
	}
}

// TestMigrateWaitsForTheOtherNode holds one node's migration open and starts another's: the second
// waits on the advisory lock (seen in pg_locks) and runs only after the first returned.
func TestMigrateWaitsForTheOtherNode(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t, "migrate_wait")
	open := func() *sql.DB {
		db, _, err := sqldb.Open(sqldb.Config{Driver: sqldb.Postgres, DSN: dsn}, 4)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b, watch := open(), open(), open()
	inA, releaseA := make(chan struct{}), make(chan struct{})
	var aDone, bSawADone atomic.Bool
	firstErr := make(chan error, 1)
	go func() {
		firstErr <- sqldb.Migrate(ctx, a, true, func(context.Context) error {
			close(inA)
			<-releaseA
			aDone.Store(true)
			return nil
		})
	}()
	<-inA
	secondErr := make(chan error, 1)
	go func() {
		secondErr <- sqldb.Migrate(ctx, b, true, func(context.Context) error {
			bSawADone.Store(aDone.Load())
			return nil
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := watch.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND classid = $1 AND objid = $2`, sqldb.MigrationLock>>32, sqldb.MigrationLock&0xffffffff).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second migration never waited for the advisory lock")
		}
		runtime.Gosched()
	}
	close(releaseA)
	if err := <-firstErr; err != nil {
		t.Fatal(err)
	}
	if err := <-secondErr; err != nil {
		t.Fatal(err)
	}
	if !bSawADone.Load() {
		t.Error("the second migration ran before the first had finished")
	}
}
