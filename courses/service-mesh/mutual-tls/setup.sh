# The app in the mesh, and in the namespace legacy a client without a sidecar.
set -e
kubectl label namespace default istio-injection=enabled --overwrite
kubectl create namespace legacy --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f ~/manifests/app/ -f ~/manifests/tools/sleep.yaml -f ~/manifests/istio/gateway.yaml
kubectl apply -n legacy -f ~/manifests/tools/sleep.yaml
kubectl wait --for=condition=available deployment --all --timeout=120s
kubectl wait -n legacy --for=condition=available deployment/sleep --timeout=120s
