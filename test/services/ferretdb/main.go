// Command ferretdb serves FerretDB v1 (MongoDB wire protocol over SQLite) for the test suite.
//
// We wrap the embeddable package instead of `go install`-ing FerretDB's own command because
// that command panics at start: its version.txt is not part of the module zip. Here the main
// module is ours, so the package builds and runs from the module proxy alone.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:27017", "TCP listen address (host:port)")
	dir := flag.String("dir", "./data", "SQLite data directory (created if missing)")
	flag.Parse()

	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *addr},
		Handler:  "sqlite",
		// Write transactions take the lock when they begin and wait for it (busy_timeout)
		// instead of failing with SQLITE_BUSY when they upgrade from a read.
		SQLiteURL: "file:" + *dir + "/?_txlock=immediate",
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	log.Printf("ferretdb listening on %s, data in %s", *addr, *dir)
	if err := f.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
