# Locust master/worker with this project's users and targets, from the wheelhouse. The
# installed loadtests package is also reachable as /app/loadtests, the path compose gives.
ARG APP_IMAGE=triton-suite/app:local
FROM ${APP_IMAGE}
RUN mkdir -p /app \
    && ln -s "$(python -c 'import loadtests, os; print(os.path.dirname(loadtests.__file__))')" \
        /app/loadtests
USER app
WORKDIR /home/app
EXPOSE 8089 5557
ENTRYPOINT ["locust"]
CMD ["--help"]
