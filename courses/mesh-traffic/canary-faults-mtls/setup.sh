# The lab's starting point: sa-logic v1 and v2, sa-web-app that calls it, and a
# client (sleep) to send requests from, all with sidecars. No routing rules yet.
set -e
kubectl label namespace default istio-injection=enabled --overwrite
kubectl apply -f - <<'YAML'
# The Sentiment Analysis app: `kubectl apply -f samples/sentiment/kube/` deploys it whole.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa-logic
  labels: {app: sa-logic}
---
apiVersion: v1
kind: Service
metadata:
  name: sa-logic
  labels: {app: sa-logic, service: sa-logic}
spec:
  selector: {app: sa-logic}
  ports:
  - {name: http, port: 80, targetPort: 5000}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sa-logic-v1
  labels: {app: sa-logic, version: v1}
spec:
  replicas: 1
  selector:
    matchLabels: {app: sa-logic, version: v1}
  template:
    metadata:
      labels: {app: sa-logic, version: v1}
    spec:
      serviceAccountName: sa-logic
      containers:
      - name: sa-logic
        image: labplatform/sa-logic:v1
        ports: [{name: http, containerPort: 5000}]
        readinessProbe:
          httpGet: {path: /healthz, port: 5000}
          periodSeconds: 2
---
# sa-logic v2 beside v1, for the canary, mirroring and resilience labs:
# `kubectl apply -f samples/sentiment/versions/sa-logic-v2.yaml`.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sa-logic-v2
  labels: {app: sa-logic, version: v2}
spec:
  replicas: 1
  selector:
    matchLabels: {app: sa-logic, version: v2}
  template:
    metadata:
      labels: {app: sa-logic, version: v2}
    spec:
      serviceAccountName: sa-logic
      containers:
      - name: sa-logic
        image: labplatform/sa-logic:v2
        ports: [{name: http, containerPort: 5000}]
        readinessProbe:
          httpGet: {path: /healthz, port: 5000}
          periodSeconds: 2
---
# The Sentiment Analysis app: `kubectl apply -f samples/sentiment/kube/` deploys it whole.
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa-web-app
  labels: {app: sa-web-app}
---
apiVersion: v1
kind: Service
metadata:
  name: sa-web-app
  labels: {app: sa-web-app, service: sa-web-app}
spec:
  selector: {app: sa-web-app}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sa-web-app-v1
  labels: {app: sa-web-app, version: v1}
spec:
  replicas: 1
  selector:
    matchLabels: {app: sa-web-app, version: v1}
  template:
    metadata:
      labels: {app: sa-web-app, version: v1}
    spec:
      serviceAccountName: sa-web-app
      containers:
      - name: sa-web-app
        image: labplatform/sa-web-app
        ports: [{name: http, containerPort: 8080}]
        env:
        - {name: SA_LOGIC_API_URL, value: "http://sa-logic"}
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 2
---
# A client to exec into: `kubectl exec deploy/sleep -- curl -s http://sa-web-app/healthz`.
apiVersion: v1
kind: ServiceAccount
metadata: {name: sleep}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: sleep
  labels: {app: sleep}
spec:
  replicas: 1
  selector:
    matchLabels: {app: sleep}
  template:
    metadata:
      labels: {app: sleep}
    spec:
      serviceAccountName: sleep
      containers:
      - {name: sleep, image: labplatform/sleep}
YAML
for deployment in sa-logic-v1 sa-logic-v2 sa-web-app-v1 sleep; do
  kubectl rollout status deployment/$deployment --timeout=180s
done
