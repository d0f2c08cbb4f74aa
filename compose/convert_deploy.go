package compose

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover-sh/drover/cluster"
)

// restart maps deploy.restart_policy, or else compose's restart, onto
// docker's --restart. Swarm's default (condition any) is unless-stopped: the
// container comes back after a crash or a reboot, but not after drover
// stopped it.
func (c *converter) restart(s types.ServiceConfig) (string, error) {
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		if s.Restart != "" {
			c.warnings = append(c.warnings, Warning{
				File:    c.serviceFile(s.Name, "restart"),
				Service: s.Name,
				Key:     "restart",
				Message: "key restart is ignored: deploy.restart_policy takes precedence",
			})
		}
		switch rp.Condition {
		case "", "any":
			if rp.MaxAttempts != nil && *rp.MaxAttempts > 0 {
				c.warnings = append(c.warnings, Warning{
					File:    c.serviceFile(s.Name, "deploy.restart_policy.max_attempts"),
					Service: s.Name,
					Key:     "deploy.restart_policy.max_attempts",
					Message: "key deploy.restart_policy.max_attempts is only honoured with condition on-failure (ignored)",
				})
			}
			return "unless-stopped", nil
		case "on-failure":
			if rp.MaxAttempts != nil && *rp.MaxAttempts > 0 {
				return fmt.Sprintf("on-failure:%d", *rp.MaxAttempts), nil
			}
			return "on-failure", nil
		case "none":
			return "no", nil
		default:
			return "", fmt.Errorf("deploy.restart_policy.condition: unknown condition %q (none, on-failure or any)", rp.Condition)
		}
	}
	switch r := s.Restart; {
	case r == "":
		return "unless-stopped", nil
	case r == "no" || r == "always" || r == "unless-stopped" || r == "on-failure":
		return r, nil
	case strings.HasPrefix(r, "on-failure:"):
		n, err := strconv.Atoi(strings.TrimPrefix(r, "on-failure:"))
		if err != nil || n < 0 {
			return "", fmt.Errorf("restart: invalid %q (on-failure:N wants a count)", r)
		}
		return r, nil
	default:
		return "", fmt.Errorf("restart: unknown policy %q (no, always, on-failure[:N] or unless-stopped)", r)
	}
}

// updatePolicy fills Swarm's defaults into an update_config or
// rollback_config. Parallelism is a pointer in compose-go: unset means the
// default 1, an explicit 0 means all at once.
func updatePolicy(key string, u *types.UpdateConfig, def cluster.UpdatePolicy, update bool) (cluster.UpdatePolicy, error) {
	p := def
	if u == nil {
		return p, nil
	}
	if u.Parallelism != nil {
		p.Parallelism = int(*u.Parallelism)
	}
	p.Delay = time.Duration(u.Delay)
	if u.Monitor != 0 {
		p.Monitor = time.Duration(u.Monitor)
	}
	if u.Order != "" {
		p.Order = cluster.UpdateOrder(u.Order)
	}
	if u.FailureAction != "" {
		p.FailureAction = cluster.FailureAction(u.FailureAction)
	}
	p.MaxFailureRatio = float32To64(u.MaxFailureRatio)

	if !p.Order.Known() {
		return p, fmt.Errorf("%s.order: unknown order %q (stop-first or start-first)%s", key, p.Order, didYouMean(string(p.Order), spellings(cluster.UpdateOrders())...))
	}
	if options := spellings(cluster.FailureActions(update)); !slices.Contains(options, string(p.FailureAction)) {
		allowed := "pause or continue"
		if update {
			allowed = "pause, continue or rollback"
		}
		return p, fmt.Errorf("%s.failure_action: unknown action %q (%s)%s", key, p.FailureAction, allowed, didYouMean(string(p.FailureAction), options...))
	}
	if p.MaxFailureRatio < 0 || p.MaxFailureRatio > 1 {
		return p, fmt.Errorf("%s.max_failure_ratio must be between 0 and 1", key)
	}
	if p.Delay < 0 || p.Monitor < 0 {
		return p, fmt.Errorf("%s: negative delay or monitor", key)
	}
	return p, nil
}

// xDroverService is a service's `x-drover:` extension.
type xDroverService struct {
	updateTimeout time.Duration
	buildOn       string // a host of the inventory, checked by the caller
}

// xDrover reads the service's `x-drover:` extension.
func xDrover(ext types.Extensions) (xDroverService, error) {
	var x xDroverService
	raw, ok := ext["x-drover"]
	if !ok || raw == nil {
		return x, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return x, fmt.Errorf("x-drover must be a mapping, not %T", raw)
	}
	for _, k := range sortedKeys(m) {
		switch k {
		case "update_timeout":
			s, ok := m[k].(string)
			if !ok {
				return x, fmt.Errorf("x-drover.update_timeout must be a duration like 10m, not %v", m[k])
			}
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return x, fmt.Errorf("x-drover.update_timeout: invalid duration %q", s)
			}
			x.updateTimeout = d
		case "build_on":
			s, ok := m[k].(string)
			if !ok || s == "" {
				return x, fmt.Errorf("x-drover.build_on must be the name of a host of the inventory, not %v", m[k])
			}
			x.buildOn = s
		default:
			return x, fmt.Errorf("x-drover: unknown key %q (known: build_on, update_timeout)", k)
		}
	}
	return x, nil
}
