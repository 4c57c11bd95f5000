/* A program outside the project, built against the installed library (by
 * pkg-config and by find_package): the profile of a store through the
 * library's job, printed as "recommended <index> twonn0 <id of layer 0>". */
#include <layergeom.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: consumer STORE\n");
        return 2;
    }
    lg_job *j;
    lg_error err;
    if (lg_job_create(argv[1], &j, &err) || lg_job_set(j, "no-cache", "1", &err) ||
        lg_job_run(j, &err)) {
        fprintf(stderr, "consumer: %s\n", err.msg);
        return 1;
    }
    const lg_profile *p = lg_job_profile(j);
    printf("recommended %d twonn0 %.12g\n", p->rec.index, p->layers[0].twonn.id);
    lg_job_free(j);
    return 0;
}
