package audioloop

import (
	"context"
	"fmt"
	"time"

	"github.com/jfreymuth/pulse/proto"
)

// Streams an application opens after MicOn must follow it into the mic.
// Neither server has a module that routes by application over the pulse
// protocol (module-stream-restore keys on the application but is neither
// loaded everywhere nor honoured for a stream that names its sink, and
// pipewire-pulse leaves it to WirePlumber), so a client waits for new
// streams and moves the app's ones: FollowMic. It is a client of the
// server and nothing else: it ends with the mic (its app sink's module
// unloaded), with the server (connection closed), or when MicOff kills
// its client (`pactl kill-client`); MicOn finds it by its client property
// FollowerProperty, so a second MicOn does not start another.

// FollowResult says why FollowMic ended and what it moved.
type FollowResult struct {
	Moved []Stream // streams moved to the app sink (Sink: where they were)
	// Reason: "mic-gone" (the app sink's module went), "stopped" (ctx),
	// or "server-gone" (the connection closed: the server stopped, or
	// MicOff ended this follower).
	Reason string
}

// FollowerOptions are the connection options of the follower of mic: opts
// with the client marked as the mic's follower.
func FollowerOptions(opts Options, mic string) Options {
	p := map[string]string{FollowerProperty: mic, "application.name": "loops mic follower"}
	for k, v := range opts.Properties {
		p[k] = v
	}
	opts.Properties = p
	opts.AppName = "loops mic follower"
	return opts
}

// FollowMic moves the streams that mic's application opens to the mic's
// app sink, as they appear, until the mic goes, ctx ends or the server
// goes. c should be connected with FollowerOptions, so that MicOn and
// MicOff see it. It needs no privilege.
func (c *Client) FollowMic(ctx context.Context, mic string) (*FollowResult, error) {
	var snap snapshot
	if err := c.fetchMics(&snap); err != nil {
		return nil, err
	}
	m := snap.mics()[mic]
	if m == nil || m.App == "" {
		return nil, fmt.Errorf("%w: no mic %q fed from an application", ErrNoMicFrom, mic)
	}
	var appModule MicModule
	for _, mod := range m.Modules {
		if mod.Role == MicRoleApp {
			appModule = mod
		}
	}
	if err := c.request("subscribe", &proto.Subscribe{Mask: proto.SubscriptionMaskSinkInput | proto.SubscriptionMaskModule}, nil); err != nil {
		return nil, err
	}
	res := &FollowResult{}
	moved := map[uint32]bool{} // a new stream may show no sink yet for a while
	// A slow tick too, in case an event was missed while sweeping.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		// Sweep: the module still there? then move what is the app's.
		var now snapshot
		if err := c.fetch(&now, false); err != nil {
			res.Reason = "server-gone"
			return res, nil
		}
		present := false
		for _, mod := range now.mods {
			present = present || mod.ModuleIndex == appModule.Index && mod.ModuleArgs == appModule.Args
		}
		if !present {
			res.Reason = "mic-gone"
			return res, nil
		}
		sinkName := map[uint32]string{}
		for _, s := range now.sinks {
			sinkName[s.SinkIndex] = s.SinkName
		}
		for _, st := range now.appStreams(sinkName) {
			if !st.AppMatches(m.App) || st.Sink == m.AppSink || st.Sink == m.FeedSink || moved[st.Index] {
				continue
			}
			err := c.request(fmt.Sprintf("move sink input %d", st.Index), &proto.MoveSinkInput{SinkInputIndex: st.Index, DeviceIndex: NoIndex, DeviceName: m.AppSink}, nil)
			if err == nil {
				moved[st.Index] = true
				res.Moved = append(res.Moved, st)
			}
		}
		select {
		case <-ctx.Done():
			res.Reason = "stopped"
			return res, nil
		case <-c.gone:
			res.Reason = "server-gone"
			return res, nil
		case <-c.events:
		case <-tick.C:
		}
	}
}
