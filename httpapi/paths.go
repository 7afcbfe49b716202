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
		routeWeComJSSDKConfig,
	}
	paths := make([]string, len(patterns))
	for i, p := range patterns {
		_, paths[i], _ = strings.Cut(p, " ")
	}
	return paths
}
