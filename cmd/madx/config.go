package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/madx-project/madx/store"
	"github.com/madx-project/madx/store/sqlite"
	"github.com/rs/zerolog"
)

// storeConfig selects and configures the store engine.
type storeConfig struct {
	mongoURI string
	mongoDB  string
	dataDir  string
}

func (c *storeConfig) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.mongoURI, "mongodb-uri", getenv("MADX_MONGODB_URI"), "MongoDB connection string; empty for the embedded SQLite store (MADX_MONGODB_URI)")
	fs.StringVar(&c.mongoDB, "mongodb-database", envOr(getenv, "MADX_MONGODB_DATABASE", "madx"), "MongoDB database name (MADX_MONGODB_DATABASE)")
	fs.StringVar(&c.dataDir, "data-dir", envOr(getenv, "MADX_DATA_DIR", "./madx-data"), "directory of the embedded SQLite store (MADX_DATA_DIR)")
}

// open opens the configured engine and says which one in the log.
func (c *storeConfig) open(ctx context.Context, log zerolog.Logger) (store.Store, error) {
	if c.mongoURI != "" {
		s, err := openMongo(ctx, c.mongoURI, c.mongoDB)
		if err != nil {
			return nil, err
		}
		log.Info().Str("engine", "mongodb").Str("database", c.mongoDB).Msg("store opened")
		return s, nil
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Dir: c.dataDir})
	if err != nil {
		return nil, err
	}
	log.Info().Str("engine", "sqlite").Str("file", s.Path()).Msg("store opened (embedded default)")
	return s, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(getenv func(string) string, key string, def int64) int64 {
	if v := getenv(key); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return def
}

// newLogger writes JSON lines to w at the given level.
func newLogger(w io.Writer, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("%w: --log-level %q: %v", errUsage, level, err)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
