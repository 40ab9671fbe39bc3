# The app in the mesh, with its front door, and a client; no traffic yet.
set -e
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f ~/manifests/app/ -f ~/manifests/tools/sleep.yaml -f ~/manifests/istio/gateway.yaml
kubectl wait --for=condition=available deployment --all --timeout=120s
