package main

import (
	"context"
	"log/slog"
)

// quietRiver is a slog.Handler that lowers River's INFO records to DEBUG.
// River logs through a logger with component=river (see package queue) and
// reports producer job counts and each maintenance run at INFO, which
// drowns a service's log; its warnings and errors pass unchanged.
type quietRiver struct {
	slog.Handler
	river bool // this logger carries component=river
}

func (h quietRiver) level(l slog.Level) slog.Level {
	if h.river && l > slog.LevelDebug && l < slog.LevelWarn {
		return slog.LevelDebug
	}
	return l
}

func (h quietRiver) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, h.level(l))
}

func (h quietRiver) Handle(ctx context.Context, r slog.Record) error {
	r.Level = h.level(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h quietRiver) WithAttrs(attrs []slog.Attr) slog.Handler {
	river := h.river
	for _, a := range attrs {
		river = river || (a.Key == "component" && a.Value.String() == "river")
	}
	return quietRiver{Handler: h.Handler.WithAttrs(attrs), river: river}
}

func (h quietRiver) WithGroup(name string) slog.Handler {
	return quietRiver{Handler: h.Handler.WithGroup(name), river: h.river}
}
