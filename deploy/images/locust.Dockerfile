# Locust master/worker with this project's users and targets, from the wheelhouse.
ARG APP_IMAGE=triton-suite/app:local
FROM ${APP_IMAGE}
USER app
WORKDIR /home/app
EXPOSE 8089 5557
ENTRYPOINT ["locust"]
CMD ["--help"]
