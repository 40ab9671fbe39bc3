# A client pod to call the services from, and the front door the App tab goes through.
set -e
kubectl apply -f ~/manifests/tools/sleep.yaml -f ~/manifests/istio/gateway.yaml
kubectl rollout status deployment/sleep --timeout=120s
