-- 广州市住房和城乡建设局: housing security eligibility (H01) and its copy of marital status (H02).
CREATE TABLE housing_security_application (
    applicant_id_number       text PRIMARY KEY,
    status                    text NOT NULL CHECK (status IN ('waiting', 'approved', 'rejected')),
    applied_on                date NOT NULL,
    decided_on                date,
    applicant_marital_status  text,
    updated_at                timestamptz NOT NULL DEFAULT now()
);

INSERT INTO housing_security_application
    (applicant_id_number, status, applied_on, decided_on, applicant_marital_status) VALUES
    ('440106199001011235', 'waiting',  '2025-06-01', NULL,         'married'),
    ('440106200002290024', 'approved', '2025-11-03', '2026-01-15', 'unmarried');
