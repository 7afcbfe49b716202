package httpapi

import "strings"

// RoutePaths returns the path of every route of the API, wildcards
// included (such as /v1/apps/{appid}/access_token): what a handler
// mounted in front of the API must leave to it.
func RoutePaths() []string {
	patterns := []string{
		routeAccessToken, routeAccessTokenRefresh, routeTicket, routeTicketRefresh,
		routeJSSDKConfig, routeApps, routeHealthz, routeReadyz, routeMetrics,
		routeWeComAccessToken, routeWeComAccessTokenRefresh, routeWeComTicket, routeWeComTicketRefresh,
		routeWeComJSSDKConfig, routeOpenAPI,
	}
	patterns = append(patterns, platformRoutes()...)
	patterns = append(patterns, adminRoutes()...)
	patterns = append(patterns, registryRoutes()...)
	patterns = append(patterns, operateRoutes()...)
	paths := make([]string, 0, len(patterns))
	seen := make(map[string]bool, len(patterns))
	for _, p := range patterns {
		// A path served by two methods is listed once.
		if _, path, _ := strings.Cut(p, " "); !seen[path] {
			seen[path] = true
			paths = append(paths, path)
		}
	}
	return paths
}
