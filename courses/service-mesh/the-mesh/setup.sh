# The app as the microservices lab left it: four services and a client, no sidecars yet.
set -e
kubectl apply -f ~/manifests/app/ -f ~/manifests/tools/sleep.yaml -f ~/manifests/istio/gateway.yaml
kubectl wait --for=condition=available deployment --all --timeout=120s
